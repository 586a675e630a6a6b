"""pip's TLS options end to end, against a loopback HTTPS index that checks certificates.

The test makes its own PKI with ``cryptography``: a self-signed CA, a server certificate for
``127.0.0.1`` signed by it, and a client certificate signed by it. A TLS front on loopback
(``_TlsFront``, the suite's plain index behind it) presents the server certificate and, when
asked to, requires the client's. ``lockaudit compile --upgrade`` (every page asked again, from
a cold cache) then runs under each way pip is told whom to trust:

- nothing: the system store does not know the CA, so the run fails with a located error
  (exit 2, no traceback, the locks as they were);
- ``PIP_CERT``, ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``: the CA is trusted, the locks are
  byte for byte those compiled over plain HTTP (the requirement-format locks, which name
  pip's index ``default``; the pylocks record its URL);
- ``PIP_TRUSTED_HOST=127.0.0.1:<port>``: not verified, as pip does;
- a server that requires a client certificate: refused without one, served with
  ``PIP_CLIENT_CERT`` (one PEM file with the key and the certificate, pip's format).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.corpus.harness import Cli, cli_env
from tests.corpus.harness import lock_bytes as all_lock_bytes
from tests.indexserver import IndexServer

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA certificate (what a client trusts)
    server_cert: Path
    server_key: Path
    client: Path  # the client's key and certificate in one PEM file


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    ip: str | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    else:
        assert issuer is not None
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if ip is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(ip)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    where = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _certificate("lockaudit test CA", ca_key, None, ca_key, ca=True)
    server_key = _key()
    server = _certificate("127.0.0.1", server_key, ca, ca_key, ip="127.0.0.1")
    client_key = _key()
    client = _certificate("lockaudit test client", client_key, ca, ca_key)
    pem = serialization.Encoding.PEM
    paths = Pki(
        where / "ca.pem", where / "server.pem", where / "server.key", where / "client.pem"
    )
    paths.ca.write_bytes(ca.public_bytes(pem))
    paths.server_cert.write_bytes(server.public_bytes(pem))
    paths.server_key.write_bytes(_pem_key(server_key))
    paths.client.write_bytes(_pem_key(client_key) + client.public_bytes(pem))
    return paths


class _TlsFront:
    """HTTPS on ``127.0.0.1:<free port>`` in front of a plain-HTTP server: each connection is
    TLS-terminated here and its bytes piped both ways to the server behind."""

    def __init__(self, backend: tuple[str, int], context: ssl.SSLContext) -> None:
        self.backend = backend
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handshakes = 0
        self.refused = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            conn = self.context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            self.refused += 1
            raw.close()
            return
        self.handshakes += 1
        back = socket.create_connection(self.backend)
        threading.Thread(target=_pipe, args=(back, conn), daemon=True).start()
        _pipe(conn, back)

    def close(self) -> None:
        self.listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(1 << 16):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def _front(server: IndexServer, pki: Pki, *, client_certs: bool) -> _TlsFront:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.set_alpn_protocols(["http/1.1"])
    if client_certs:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    host, port = server.base_url.removeprefix("http://").split(":")
    return _TlsFront((host, int(port)), context)


@pytest.fixture(scope="module")
def https(server: IndexServer, pki: Pki) -> Iterator[_TlsFront]:
    front = _front(server, pki, client_certs=False)
    yield front
    front.close()


@pytest.fixture(scope="module")
def mutual(server: IndexServer, pki: Pki) -> Iterator[_TlsFront]:
    front = _front(server, pki, client_certs=True)
    yield front
    front.close()


def lock_bytes(root: Path) -> dict[str, bytes]:
    """The requirement-format locks: they name pip's index ``default``, so they are the same
    whichever URL it is reached at (the pylocks record that URL)."""
    return {k: v for k, v in all_lock_bytes(root).items() if k.endswith(".txt")}


def _compile(root: Path, tmp: Path, server: IndexServer, front: _TlsFront, **env: str) -> tuple[
    int, str
]:
    environ = cli_env(server, tmp / "cold")
    environ["PIP_INDEX_URL"] = f"https://127.0.0.1:{front.port}/default/simple"
    for key in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        environ.pop(key, None)
    environ.update(env)
    ran = Cli(root, environ).run("compile", "--all", "--upgrade")
    assert "Traceback" not in ran.stderr, ran.stderr
    return ran.returncode, ran.stderr


def test_an_unknown_ca_is_a_located_error(
    root: Path, tmp_path: Path, server: IndexServer, https: _TlsFront
) -> None:
    locks = lock_bytes(root)
    code, stderr = _compile(root, tmp_path, server, https)
    assert code == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert errors[0].startswith(f"error: https://127.0.0.1:{https.port}/default/simple/"), stderr
    assert "certificate" in errors[0].lower(), stderr
    assert lock_bytes(root) == locks


@pytest.mark.parametrize("variable", ["PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_ca_bundle_pip_honours_is_trusted(
    root: Path, tmp_path: Path, server: IndexServer, https: _TlsFront, pki: Pki, variable: str
) -> None:
    locks = lock_bytes(root)
    before = https.handshakes
    code, stderr = _compile(root, tmp_path, server, https, **{variable: str(pki.ca)})
    assert code == 0, stderr
    assert https.handshakes > before  # the pages really came over TLS
    assert lock_bytes(root) == locks  # the same answer as over plain HTTP


def test_a_trusted_host_is_not_verified(
    root: Path, tmp_path: Path, server: IndexServer, https: _TlsFront
) -> None:
    locks = lock_bytes(root)
    code, stderr = _compile(
        root, tmp_path, server, https, PIP_TRUSTED_HOST=f"127.0.0.1:{https.port}"
    )
    assert code == 0, stderr
    assert lock_bytes(root) == locks


def test_a_client_certificate_is_presented(
    root: Path, tmp_path: Path, server: IndexServer, mutual: _TlsFront, pki: Pki
) -> None:
    locks = lock_bytes(root)
    code, stderr = _compile(root, tmp_path, server, mutual, PIP_CERT=str(pki.ca))
    assert code == 2, stderr  # the server wants a certificate and got none
    assert mutual.refused >= 1 and mutual.handshakes == 0
    assert lock_bytes(root) == locks

    code, stderr = _compile(
        root, tmp_path, server, mutual, PIP_CERT=str(pki.ca), PIP_CLIENT_CERT=str(pki.client)
    )
    assert code == 0, stderr
    assert mutual.handshakes >= 1
    assert lock_bytes(root) == locks
