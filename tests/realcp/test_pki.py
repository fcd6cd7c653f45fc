"""The real control plane's PKI: who each certificate says it is, and that the CA signed it (no Go needed)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nonstop.sandbox.real.pki import CertPair, create_pki, issue_client_cert, issue_serving_cert


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _subject(cert: x509.Certificate) -> tuple[str, list[str]]:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return str(cn), [str(o) for o in orgs]


def test_every_certificate_is_signed_by_the_ca_and_names_its_user(tmp_path: Path) -> None:
    pki = create_pki(tmp_path, first_cluster_ip="127.20.0.1")
    ca = _load(pki.ca.cert)
    expected = {
        pki.admin: ("nonstop-admin", ["system:masters"]),
        pki.controller_manager: ("system:kube-controller-manager", []),
        pki.scheduler: ("system:kube-scheduler", []),
        pki.kubelet_client: ("kube-apiserver-kubelet-client", ["system:masters"]),
    }
    for pair, subject in expected.items():
        cert = _load(pair.cert)
        cert.verify_directly_issued_by(ca)
        assert _subject(cert) == subject
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        assert pair.key.stat().st_mode & 0o077 == 0
    serving = _load(pki.apiserver.cert)
    serving.verify_directly_issued_by(ca)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("127.20.0.1"),
    }
    assert "localhost" in sans.get_values_for_type(x509.DNSName)


def test_node_client_and_serving_certs(tmp_path: Path) -> None:
    pki = create_pki(tmp_path, first_cluster_ip="127.20.0.1")
    node = issue_client_cert(
        pki.ca, CertPair(tmp_path / "n.crt", tmp_path / "n.key"), user="system:node:n1", groups=("system:nodes",)
    )
    assert _subject(_load(node.cert)) == ("system:node:n1", ["system:nodes"])
    served = issue_serving_cert(
        pki.ca, CertPair(tmp_path / "s.crt", tmp_path / "s.key"), name="n1", ip_addresses=("10.244.0.1",)
    )
    cert = _load(served.cert)
    cert.verify_directly_issued_by(_load(pki.ca.cert))
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
