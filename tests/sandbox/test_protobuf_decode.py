"""The protobuf decoder on hand-built bodies: the field kinds kubectl's everyday commands do not reach.

Each expected object is what Go's encoding/json writes for the k8s.io/api struct the bytes decode
into (times, negative varints, packed lists, inline structs, quantities, unknown fields).
"""

from __future__ import annotations

import pytest

from nonstop.sandbox import protobuf
from nonstop.sandbox.apierrors import ApiError


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32/int64: two's complement over ten bytes, as gogo writes it
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def msg(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def num(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def body(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + msg(1, msg(1, api_version.encode()) + msg(2, kind.encode())) + msg(2, raw)


def test_times_negative_numbers_and_non_pointer_structs() -> None:
    raw = (
        msg(1, msg(1, b"e1") + msg(8, b""))  # metadata: a zero creationTimestamp is an empty message
        + msg(2, num(1, 1_700_000_000) + num(2, 123_456_789))  # eventTime (MicroTime): seconds, nanos
        + msg(7, b"Killing")
        + msg(13, num(1, 1_700_000_000) + num(2, 999))  # deprecatedFirstTimestamp (Time): nanos dropped
        + num(15, -1)  # deprecatedCount, an int32
        + num(99, 7)  # a field this version does not know
    )
    assert protobuf.decode(body("events.k8s.io/v1", "Event", raw)) == {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": {"name": "e1", "creationTimestamp": None},
        "eventTime": "2023-11-14T22:13:20.123456Z",
        "reason": "Killing",
        "regarding": {},
        "deprecatedSource": {},
        "deprecatedFirstTimestamp": "2023-11-14T22:13:20Z",
        "deprecatedLastTimestamp": None,
        "deprecatedCount": -1,
    }


def test_inline_structs_quantities_and_zero_pointers() -> None:
    volume = msg(1, b"scratch") + msg(2, msg(2, msg(2, msg(1, b"64Mi"))))  # VolumeSource inline, emptyDir
    limits = msg(1, msg(1, b"cpu") + msg(2, msg(1, b"500m")))
    container = msg(1, b"app") + msg(2, b"img") + msg(8, limits)
    spec = msg(1, volume) + msg(2, container) + num(4, 0)  # terminationGracePeriodSeconds: a pointer to 0
    pod = protobuf.decode(body("v1", "Pod", msg(1, msg(1, b"p")) + msg(2, spec)))
    assert pod["spec"] == {
        "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}}],
        "containers": [{"name": "app", "image": "img", "resources": {"limits": {"cpu": "500m"}}}],
        "terminationGracePeriodSeconds": 0,
    }
    assert pod["status"] == {}


def test_int_or_string_and_packed_lists() -> None:
    port = msg(1, b"http") + num(3, 80) + msg(4, num(1, 1) + msg(3, b"web"))  # targetPort: type 1 (string)
    spec = msg(1, port)
    service = protobuf.decode(body("v1", "Service", msg(2, spec)))
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "web"}]
    numeric = protobuf.decode(body("v1", "Service", msg(2, msg(1, num(3, 80) + msg(4, num(2, 8080))))))
    assert numeric["spec"]["ports"] == [{"port": 80, "targetPort": 8080}]

    groups = num(4, 1000) + msg(4, varint(2000) + varint(3000))  # supplementalGroups: one unpacked, two packed
    pod = protobuf.decode(body("v1", "Pod", msg(2, msg(14, groups))))
    assert pod["spec"]["securityContext"] == {"supplementalGroups": [1000, 2000, 3000]}


def test_what_is_refused() -> None:
    with pytest.raises(ApiError) as gzip:
        protobuf.decode(b"k8s\x00" + msg(1, msg(1, b"v1") + msg(2, b"ConfigMap")) + msg(3, b"gzip"))
    assert gzip.value.code == 415
    with pytest.raises(ApiError) as wrong:
        protobuf.decode(body("v1", "ConfigMap", num(2, 5)))  # data is a map: a varint cannot be one
    assert wrong.value.code == 400
    assert "ConfigMap.data (field 2) should be a message" in wrong.value.status()["message"]
    with pytest.raises(ApiError) as group:
        protobuf.decode(body("v1", "ConfigMap", varint(1 << 3 | 3)))  # wire type 3: a proto1 group
    assert "wire type 3" in group.value.status()["message"]
