"""A local HTTPS stand-in for Azure Key Vault and the Microsoft Entra token endpoint that
the real ``azure.keyvault.secrets.SecretClient`` and ``azure.identity.ClientSecretCredential``
talk to, on 127.0.0.1, as a thread of the test process.

    with KeyVaultStandIn({"db-password": "s3cret"}) as vault:
        client = SecretClient(vault.url, vault.credential(), verify_challenge_resource=False)

What it speaks:

* ``GET /secrets/{name}[/{version}]?api-version=...``: without a bearer token, ``401`` with
  ``WWW-Authenticate: Bearer authorization="https://127.0.0.1:PORT/TENANT",
  resource="https://vault.azure.net"`` (Key Vault's challenge); with a token it issued,
  the secret as Key Vault returns it (``value``, ``id``, ``attributes``) or ``404
  SecretNotFound``; ``403 Forbidden`` for names in ``denied``; names in ``hang`` never answer;
  every answer waits ``delay`` seconds first.
* ``GET /{tenant}/v2.0/.well-known/openid-configuration`` and ``POST
  /{tenant}/oauth2/v2.0/token`` (client credentials): a token for the configured client id
  and secret only.

The certificate is made with ``cryptography``: a CA and a server certificate for
127.0.0.1/localhost in a temporary folder; ``ca_file`` is what clients trust
(``connection_verify=ca_file``, or ``REQUESTS_CA_BUNDLE``, which azure-core's requests
transport honours). Every request is recorded in ``requests`` (method, path, whether it
carried a token) so tests can count what the client asked.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TENANT = "00000000-0000-0000-0000-0000000000aa"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "stand-in-client-secret-9f8e7d"
RESOURCE = "https://vault.azure.net"


@dataclass
class Seen:
    method: str
    path: str
    authorized: bool


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) PEM files in ``folder``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lakestory test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


@dataclass
class KeyVaultStandIn:
    """Key Vault and its token endpoint on ``https://127.0.0.1:PORT`` (a server thread)."""

    secrets: dict[str, str] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)
    hang: set[str] = field(default_factory=set)
    delay: float = 0.0  # seconds before each secret is answered (a vault far away)
    requests: list[Seen] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="keyvault-standin-")
        self.ca_file, cert, key = make_certificates(Path(self._folder.name))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._release = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        # the handshake happens on the request's own thread, not in the accept loop
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = self._server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> KeyVaultStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()  # let hung requests finish
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._folder.cleanup()

    def credential(self, client_secret: str = CLIENT_SECRET) -> Any:
        """A real ``azure.identity.ClientSecretCredential`` whose authority is this server."""
        from azure.identity import ClientSecretCredential

        return ClientSecretCredential(
            TENANT,
            CLIENT_ID,
            client_secret,
            authority=self.url,
            disable_instance_discovery=True,
            connection_verify=str(self.ca_file),
        )

    def secret_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith("/secrets/") and r.authorized]


class _Server(ThreadingHTTPServer):
    # a project's secrets arrive all at once: the default backlog of 5 drops the others'
    # SYNs, which the clients resend a second later
    request_queue_size = 128


def _handler(vault: KeyVaultStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            auth = self.headers.get("Authorization", "")
            return auth.startswith("Bearer ") and auth[7:] in vault.tokens

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            authorized = self._authorized()
            vault.requests.append(Seen("GET", path, authorized))
            if path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
                base = f"{vault.url}/{TENANT}"
                self._send(
                    200,
                    {
                        "issuer": f"{base}/v2.0",
                        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                        "token_endpoint": f"{base}/oauth2/v2.0/token",
                    },
                )
                return
            if not path.startswith("/secrets/"):
                self._send(404, {"error": {"code": "NotFound", "message": path}})
                return
            if not authorized:
                challenge = f'Bearer authorization="{vault.url}/{TENANT}", resource="{RESOURCE}"'
                self._send(
                    401,
                    {"error": {"code": "Unauthorized", "message": "AKV10000: token required"}},
                    {"WWW-Authenticate": challenge},
                )
                return
            parts = path.strip("/").split("/")
            name = parts[1] if len(parts) > 1 else ""
            version = parts[2] if len(parts) > 2 and parts[2] else "0123456789abcdef"
            if name in vault.hang:
                vault._release.wait(60)
                return
            time.sleep(vault.delay)
            if name in vault.denied:
                self._send(403, {"error": {"code": "Forbidden", "message": "no get permission"}})
                return
            if name not in vault.secrets:
                message = f"A secret with (name/id) {name} was not found in this key vault."
                self._send(404, {"error": {"code": "SecretNotFound", "message": message}})
                return
            now = int(time.time())
            self._send(
                200,
                {
                    "value": vault.secrets[name],
                    "id": f"{vault.url}/secrets/{name}/{version}",
                    "attributes": {
                        "enabled": True,
                        "created": now,
                        "updated": now,
                        "recoveryLevel": "Recoverable+Purgeable",
                    },
                },
            )

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode()) if length else {}
            vault.requests.append(Seen("POST", path, False))
            if path != f"/{TENANT}/oauth2/v2.0/token":
                self._send(404, {"error": "not_found"})
                return
            if form.get("client_id") != [CLIENT_ID] or form.get("client_secret") != [CLIENT_SECRET]:
                self._send(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided.",
                    },
                )
                return
            token = secrets.token_urlsafe(32)
            vault.tokens.add(token)
            self._send(
                200,
                {"token_type": "Bearer", "expires_in": 3600, "access_token": token},
            )

    return Handler
