"""The real control plane's certificates: one CA, the apiserver's serving cert, client certs, the SA key.

Everything is generated fresh for each control plane (ECDSA P-256, valid one day) with the
`cryptography` package and written as PEM files into the control plane's work directory:

    ca.crt ca.key                  the cluster CA (signs every certificate below)
    apiserver.crt apiserver.key    serving cert for 127.0.0.1, localhost and the first ClusterIP
    admin.crt admin.key            CN=nonstop-admin, O=system:masters (the admin kubeconfig)
    controller-manager.crt/.key    CN=system:kube-controller-manager
    scheduler.crt scheduler.key    CN=system:kube-scheduler
    apiserver-kubelet-client.crt/.key  CN=kube-apiserver-kubelet-client, O=system:masters
                                   (the apiserver's client cert towards kubelets, for `kubectl logs`;
                                   in system:masters, as kubeadm had it, so a kubelet that asks the
                                   apiserver to authorize it with a SubjectAccessReview says yes)
    sa.key sa.pub                  service-account token signing key pair

`issue_client_cert()` mints more client certs signed by the same CA, e.g. a node's
`system:node:<name>` in group `system:nodes`, which the Node authorizer and NodeRestriction expect;
`issue_serving_cert()` a serving cert (a kubelet's API, should it want one the CA vouches for).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertPair", "Pki", "create_pki", "issue_client_cert", "issue_serving_cert"]

_VALIDITY = dt.timedelta(days=1)
_BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock differences between processes


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """The files of one control plane's PKI (see the module docstring)."""

    directory: Path
    ca: CertPair
    apiserver: CertPair
    admin: CertPair
    controller_manager: CertPair
    scheduler: CertPair
    kubelet_client: CertPair
    service_account_key: Path
    service_account_pub: Path


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(pem)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _load_ca(ca: CertPair) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{ca.key} is not an ECDSA key")
    return cert, key


def _issue(
    ca: CertPair,
    out: CertPair,
    subject: x509.Name,
    *,
    usage: x509.ObjectIdentifier,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
) -> CertPair:
    ca_cert, ca_key = _load_ca(ca)
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(out.key, key)
    _write_cert(out.cert, cert)
    return out


def issue_client_cert(ca: CertPair, out: CertPair, *, user: str, groups: tuple[str, ...] = ()) -> CertPair:
    """Sign a client certificate for `user` (CN) in `groups` (O) with the cluster CA; writes `out`."""
    return _issue(ca, out, _name(user, groups), usage=ExtendedKeyUsageOID.CLIENT_AUTH)


def issue_serving_cert(
    ca: CertPair, out: CertPair, *, name: str, dns_names: tuple[str, ...] = (), ip_addresses: tuple[str, ...] = ()
) -> CertPair:
    """Sign a TLS serving certificate (e.g. a kubelet's, for its node IP) with the cluster CA; writes `out`."""
    return _issue(
        ca, out, _name(name), usage=ExtendedKeyUsageOID.SERVER_AUTH, dns_names=dns_names, ip_addresses=ip_addresses
    )


def _create_ca(out: CertPair) -> CertPair:
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    subject = _name("nonstop-controlplane-ca")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(out.key, key)
    _write_cert(out.cert, cert)
    return out


def create_pki(directory: Path, *, first_cluster_ip: str) -> Pki:
    """Generate every file of the module docstring into `directory` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)

    def pair(name: str) -> CertPair:
        return CertPair(directory / f"{name}.crt", directory / f"{name}.key")

    ca = _create_ca(pair("ca"))
    apiserver = _issue(
        ca,
        pair("apiserver"),
        _name("kube-apiserver"),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
        ip_addresses=("127.0.0.1", first_cluster_ip),
    )
    sa_key = _new_key()
    _write_key(directory / "sa.key", sa_key)
    (directory / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return Pki(
        directory=directory,
        ca=ca,
        apiserver=apiserver,
        admin=issue_client_cert(ca, pair("admin"), user="nonstop-admin", groups=("system:masters",)),
        controller_manager=issue_client_cert(ca, pair("controller-manager"), user="system:kube-controller-manager"),
        scheduler=issue_client_cert(ca, pair("scheduler"), user="system:kube-scheduler"),
        kubelet_client=issue_client_cert(
            ca,
            pair("apiserver-kubelet-client"),
            user="kube-apiserver-kubelet-client",
            groups=("system:masters",),
        ),
        service_account_key=directory / "sa.key",
        service_account_pub=directory / "sa.pub",
    )
