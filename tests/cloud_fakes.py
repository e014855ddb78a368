"""Local stand-ins for what the GKE and AKS credentials providers call: Google's OAuth2 token
endpoint and the GKE API, Entra ID (tenant discovery and token endpoint, over TLS as
azure-identity requires) and Azure Resource Manager.

Each is a real HTTP server on 127.0.0.1 that checks a request as the real service would:
the JWT-bearer grant's RS256 signature (against the service account's public key), its
audience, issuer and scope; the client-credentials grant's client id and secret; the bearer
token of an API call. It answers as the real one does, errors included, and records what it
accepted so tests can assert on the exact requests.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
AKS_SCOPE = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # whatever URL the grant goes to


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value.removeprefix("Bearer ") if value.startswith("Bearer ") else None


Handler = Callable[[Seen], tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class Tls:
    """A self-signed certificate for 127.0.0.1 (also the CA bundle that trusts it)."""

    cert: Path
    key: Path


def make_tls(folder: Path) -> Tls:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "o2dms test cloud")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    tls = Tls(folder / "cloud.crt", folder / "cloud.key")
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return tls


@contextmanager
def serve(handle: Handler, *, tls: Tls | None = None) -> Iterator[str]:
    """``handle`` behind a local server, for the block; yields its base URL."""

    class Endpoint(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            seen = Seen(
                method=self.command,
                path=parts.path,
                query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                form={k: v[-1] for k, v in parse_qs(raw).items()},
            )
            status, body = handle(seen)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    scheme = "http"
    if tls is not None:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": status, "status": code, "message": message}}


# ---------------------------------------------------------------------------- Google


@dataclass
class FakeGoogle:
    """Google's token endpoint (``/token``) and the GKE API (``/v1/projects/...``).

    ``clusters`` maps ``project/location/cluster`` to the ``(endpoint, ca)`` the API
    describes; ``access_token`` is what a valid grant gets, for ``expires_in`` seconds.
    """

    access_token: str
    clusters: dict[str, tuple[str, str]]
    email: str = "o2dms-deployer@ran-project.iam.gserviceaccount.com"
    expires_in: int = 3600
    forbidden: bool = False  # the GKE API answers 403
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    url: str = ""  # set once served
    grants: list[dict[str, Any]] = field(default_factory=list)  # accepted: header + claims
    described: list[Seen] = field(default_factory=list)
    issued: int = 0

    def key_file(self, *, key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
        """The service account's JSON key file, as Google's console hands it out."""
        pem = (key or self.key).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "type": "service_account",
            "project_id": "ran-project",
            "private_key_id": "key-1",
            "private_key": pem.decode(),
            "client_email": self.email,
            "client_id": "109876543210",
            "token_uri": f"{self.url}/token",
        }

    def token_for(self, index: int) -> str:
        return self.access_token if index == 1 else f"{self.access_token}-{index}"

    def handle(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        if seen.method == "POST" and seen.path == "/token":
            return self._grant(seen)
        if seen.method == "GET" and seen.path.startswith("/v1/projects/"):
            return self._describe(seen)
        return _error(404, "NOT_FOUND", f"no route {seen.path}")

    def _grant(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        refused = 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if seen.form.get("grant_type") != JWT_BEARER:
            return 400, {"error": "unsupported_grant_type"}
        head, body, signature = seen.form.get("assertion", "..").split(".")
        try:
            self.key.public_key().verify(
                _b64url(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, ValueError):
            return refused
        header, claims = json.loads(_b64url(head)), json.loads(_b64url(body))
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE or claims.get("iss") != self.email:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT audience."}
        if claims.get("exp", 0) < time.time():
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: expired."}
        self.grants.append({"header": header, "claims": claims})
        self.issued += 1
        token = self.token_for(self.issued)
        return 200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}

    def _describe(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        parts = seen.path.split("/")  # /v1/projects/P/locations/L/clusters/C
        if seen.bearer not in {self.token_for(i) for i in range(1, self.issued + 1)}:
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        self.described.append(seen)
        if self.forbidden:
            return _error(403, "PERMISSION_DENIED", "Required 'container.clusters.get' permission.")
        found = self.clusters.get(f"{parts[3]}/{parts[5]}/{parts[7]}") if len(parts) == 8 else None
        if found is None:
            return _error(404, "NOT_FOUND", f"Not found: {seen.path}.")
        endpoint, ca = found
        return 200, {
            "name": parts[7],
            "status": "RUNNING",
            "endpoint": endpoint,
            "masterAuth": {"clusterCaCertificate": ca},
        }


# ----------------------------------------------------------------------------- Azure


@dataclass
class FakeAzure:
    """Entra ID (``/{tenant}/v2.0/.well-known/openid-configuration`` and
    ``/{tenant}/oauth2/v2.0/token``) and Azure Resource Manager's
    ``listClusterUserCredential``, on one TLS server.

    ``clusters`` maps ``subscription/resourceGroup/cluster`` to the kubeconfig the API lists;
    a valid client-credentials grant for the AKS server app gets ``aks_token``.
    """

    aks_token: str
    clusters: dict[str, str]
    tenant: str = "7f3b4c2e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
    client_id: str = "0c9a8b7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
    client_secret: str = "s3cr3t~client~value~do-not-leak"
    expires_in: int = 3600
    forbidden: bool = False  # Resource Manager answers 403
    url: str = ""  # set once served
    grants: list[dict[str, str]] = field(default_factory=list)  # accepted token requests
    listed: list[Seen] = field(default_factory=list)
    issued: dict[str, str] = field(default_factory=dict)  # token -> the scope it is for
    discovered: int = 0

    def app_secret(self) -> dict[str, str]:
        return {
            "tenantId": self.tenant,
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
        }

    def token_for(self, scope: str, index: int) -> str:
        base = self.aks_token if scope == AKS_SCOPE else "management-token"
        return base if index == 1 else f"{base}-{index}"

    def handle(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        prefix = f"/{self.tenant}"
        if seen.path == f"{prefix}/v2.0/.well-known/openid-configuration":
            self.discovered += 1
            return 200, self._configuration()
        if seen.path.endswith("/v2.0/.well-known/openid-configuration"):
            return 400, {
                "error": "invalid_tenant",
                "error_description": "AADSTS90002: Tenant not found.",
            }
        if seen.method == "POST" and seen.path == f"{prefix}/oauth2/v2.0/token":
            return self._grant(seen)
        if seen.method == "POST" and seen.path.endswith("/listClusterUserCredential"):
            return self._list(seen)
        return 404, {"error": {"code": "NotFound", "message": f"no route {seen.path}"}}

    def _configuration(self) -> dict[str, Any]:
        base = f"{self.url}/{self.tenant}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "issuer": f"{base}/v2.0",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "tenant_region_scope": "EU",
        }

    def _grant(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        form = seen.form
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
                "error_codes": [7000215],
            }
        scope = form.get("scope", "")
        self.grants.append({"scope": scope, "client_id": form["client_id"]})
        token = self.token_for(scope, sum(g["scope"] == scope for g in self.grants))
        self.issued[token] = scope
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": token,
        }

    def _list(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        if self.issued.get(seen.bearer or "") != f"{self.url}/.default":
            return 401, {"error": {"code": "InvalidAuthenticationToken", "message": "bad token"}}
        self.listed.append(seen)
        if self.forbidden:
            return 403, {
                "error": {
                    "code": "AuthorizationFailed",
                    "message": "The client does not have authorization to perform action "
                    "'Microsoft.ContainerService/managedClusters/listClusterUserCredential/action'.",
                }
            }
        parts = seen.path.split("/")  # /subscriptions/S/resourceGroups/RG/providers/.../C/list...
        key = f"{parts[2]}/{parts[4]}/{parts[8]}" if len(parts) == 10 else ""
        if key not in self.clusters:
            return 404, {
                "error": {"code": "ResourceNotFound", "message": f"{parts[8:9]} was not found."}
            }
        value = base64.b64encode(self.clusters[key].encode()).decode()
        return 200, {"kubeconfigs": [{"name": "clusterUser", "value": value}]}


def aks_kubeconfig(server: str, ca: str, *, name: str = "aks-paris") -> str:
    """The exec-format kubeconfig AKS lists for an Entra ID cluster (kubelogin's user)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": name, "cluster": {"server": server, "certificate-authority-data": ca}}
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": "clusterUser"}}],
            "current-context": name,
            "users": [
                {
                    "name": "clusterUser",
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "kubelogin",
                            "args": [
                                "get-token",
                                "--server-id",
                                AKS_SCOPE.removesuffix("/.default"),
                            ],
                        }
                    },
                }
            ],
        }
    )
