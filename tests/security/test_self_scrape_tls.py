"""The self-scrape's TLS context trusts exactly the server's own certificate, nothing else."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vigie.exceptions import ConfigurationError
from vigie.server.security import self_scrape_tls_context

_NOW = datetime.datetime.now(datetime.UTC)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - datetime.timedelta(minutes=1))
        .not_valid_after(_NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )  # fmt: skip
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


def _pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def _write_pair(
    directory: Path, name: str, chain: bytes, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(chain)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _handshake(client: ssl.SSLContext, cert: Path, key: Path) -> None:
    """A TLS handshake on loopback against a server presenting ``cert``; raises on refusal."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        connection, _ = listener.accept()
        try:
            with server.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"x")
    finally:
        thread.join(timeout=5)
        listener.close()


def test_pinned_ca_issued_certificate_is_trusted_without_its_host_name(tmp_path: Path) -> None:
    """A CA-issued leaf for vigie.example.org is accepted on 127.0.0.1 when it is the one pinned."""
    ca_key, leaf_key = _key(), _key()
    ca = _certificate("Example CA", ca_key, "Example CA", ca_key, ca=True)
    leaf = _certificate("vigie.example.org", leaf_key, "Example CA", ca_key)
    cert, key = _write_pair(tmp_path, "server", _pem(leaf, ca), leaf_key)
    _handshake(self_scrape_tls_context(str(cert)), cert, key)


def test_another_certificate_from_the_same_ca_is_refused(tmp_path: Path) -> None:
    """Only the pinned leaf is trusted: a sibling certificate of the same CA is refused."""
    ca_key, leaf_key, other_key = _key(), _key(), _key()
    ca = _certificate("Example CA", ca_key, "Example CA", ca_key, ca=True)
    leaf = _certificate("vigie.example.org", leaf_key, "Example CA", ca_key)
    other = _certificate("vigie.example.org", other_key, "Example CA", ca_key)
    pinned, _ = _write_pair(tmp_path, "server", _pem(leaf, ca), leaf_key)
    impostor, impostor_key = _write_pair(tmp_path, "other", _pem(other, ca), other_key)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(self_scrape_tls_context(str(pinned)), impostor, impostor_key)


def test_a_file_without_certificate_is_a_configuration_error(tmp_path: Path) -> None:
    """A cert_file holding no PEM certificate is reported with the field."""
    path = tmp_path / "cert.pem"
    path.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match=r"vigie\.security\.tls\.cert_file: no PEM"):
        self_scrape_tls_context(str(path))
