"""The local stack as its own identity provider (`imagepipe local --auth jwt`).

It holds one RSA key pair (in `--data-dir` when given, so that tokens outlive a restart; else
made for the run), signs RS256 access tokens for any subject, and serves what an OpenID Connect
issuer serves on its base URL, which is the API's: `/.well-known/openid-configuration` and the
key set at `/.well-known/jwks.json`. The local JWT authorizer verifies against that key set.

Tokens come from `POST /local/token` `{"sub": "alice", "expiresIn": 3600}` (what `imagepipe
token` calls), answered only to loopback clients: a development IdP that signs for anyone must
not answer a network, even when the stack listens on one (`--host 0.0.0.0`)."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from imagepipe_local.authorizer import JwtAuthorizer
from imagepipe_local.template import Template

# The audience of the local tokens: the template's JwtAudience names an app client on AWS.
LOCAL_AUDIENCE = "imagepipe"
KEY_FILE = "jwt-signing-key.pem"
TOKEN_PATH = "/local/token"  # noqa: S105 - a path, not a secret
JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"
DEFAULT_EXPIRES_IN = 3600
MAX_EXPIRES_IN = 86400  # a day, as Cognito's longest access token
# What a local subject may be: it becomes the tenant, and Cognito's are UUIDs.
SUBJECT = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


def rsa_key(key_file: Path | None) -> rsa.RSAPrivateKey:
    """The 2048-bit RSA key kept in `key_file` (made and saved there on first use, owner-only),
    or a key for this run when there is no file. The CDN key (signed_urls.py) is kept so too."""
    if key_file is not None and key_file.is_file():
        loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{key_file} does not hold an RSA private key")
        return loaded
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_file is not None:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Readable by its owner only, like any private key.
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(pem)
    return key


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RSA key's JWK thumbprint (RFC 7638), used as its `kid`: stable for one key."""
    members = {name: jwk[name] for name in ("e", "kty", "n")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode())
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


class LocalIdentityProvider:
    def __init__(
        self, issuer: str, *, key_file: Path | None = None, audience: str = LOCAL_AUDIENCE
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self._key = rsa_key(key_file)
        public: dict[str, Any] = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self.kid = thumbprint(public)
        self._jwk = {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._jwk)]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}{JWKS_PATH}",
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def mint(self, subject: str, expires_in: int = DEFAULT_EXPIRES_IN) -> tuple[str, int]:
        """A signed access token for `subject` and its expiry (epoch seconds)."""
        now = int(time.time())
        expires = now + expires_in
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "jti": uuid.uuid4().hex,
            "token_use": "access",
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid}), expires

    def asgi_routes(self, headers: dict[str, str]) -> list[BaseRoute]:
        """The issuer's documents and the token endpoint, each response with `headers`."""

        async def key_set(_: Request) -> JSONResponse:
            return JSONResponse(self.jwks(), headers=headers)

        async def discovery(_: Request) -> JSONResponse:
            return JSONResponse(self.discovery(), headers=headers)

        async def token(request: Request) -> JSONResponse:
            client = request.client.host if request.client else ""
            if not _is_loopback(client):
                return _error(
                    403, "forbidden", "tokens are minted for loopback clients only", headers
                )
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return _error(400, "invalid_body", "the body is not JSON", headers)
            subject = body.get("sub") if isinstance(body, dict) else None
            expires_in = body.get("expiresIn", DEFAULT_EXPIRES_IN) if isinstance(body, dict) else 0
            if not isinstance(subject, str) or not SUBJECT.match(subject):
                return _error(400, "invalid_sub", f"sub must match {SUBJECT.pattern}", headers)
            valid_expiry = isinstance(expires_in, int) and not isinstance(expires_in, bool)
            if not valid_expiry or not 1 <= expires_in <= MAX_EXPIRES_IN:
                message = f"expiresIn must be 1 to {MAX_EXPIRES_IN} seconds"
                return _error(400, "invalid_expires_in", message, headers)
            signed, expires = self.mint(subject, expires_in)
            expires_at = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return JSONResponse({"token": signed, "expiresAt": expires_at}, headers=headers)

        return [
            Route(JWKS_PATH, key_set, methods=["GET"]),
            Route(DISCOVERY_PATH, discovery, methods=["GET"]),
            Route(TOKEN_PATH, token, methods=["POST"]),
        ]


def local_authorizer(
    template: Template, issuer: str, data_dir: Path | None
) -> tuple[JwtAuthorizer, list[BaseRoute]]:
    """The template's JWT authorizer with the stack as its issuer (the template loaded with
    JwtIssuer = `issuer`), and the issuer's routes for the API port."""
    from imagepipe_local.http_api import FRONT_HEADERS

    rules = template.http_jwt_rules()
    if not rules:
        raise RuntimeError("--auth jwt: the template's HTTP API has no JWT authorizer")
    identity = LocalIdentityProvider(issuer, key_file=data_dir / KEY_FILE if data_dir else None)
    return JwtAuthorizer(rules, identity.jwks), identity.asgi_routes(FRONT_HEADERS)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error(status: int, code: str, message: str, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)
