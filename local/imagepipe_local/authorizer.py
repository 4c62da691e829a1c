"""The HTTP API's JWT authorizer, played locally (`imagepipe local --auth jwt`).

It checks what API Gateway documents for an HTTP API JWT authorizer, before any function runs:
the identity source holds a token (alone or after `Bearer `); the token decodes; its header
names a `kid` of the issuer's key set and an RSA algorithm, and the signature verifies with that
key; `iss` is the configured issuer; `aud` (or `client_id` when there is no `aud`) is one of the
configured audiences; `exp` is after now, `nbf` and `iat` not after now; and, on a route with
authorization scopes, `scp` or `scope` holds one of them. Any failure answers 401
`{"message":"Unauthorized"}` (403 `Forbidden` for a missing scope). An accepted token's claims
reach the function in `requestContext.authorizer.jwt.claims` as strings, the way API Gateway
flattens them. The signature is PyJWT's (with `cryptography`); the rest is API Gateway's rules.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from imagepipe_local.template import JwtRule

# "Currently, only RSA-based algorithms are supported" (API Gateway's JWT authorizer).
RSA_ALGORITHMS = ("RS256", "RS384", "RS512")


class Refused(Exception):
    """The authorizer's answer instead of the function's: `reason` is for the local log only,
    the client gets API Gateway's bare message."""

    def __init__(self, reason: str, *, status: int = 401, token: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.token = token  # whether there was a token to refuse

    @property
    def message(self) -> str:
        return "Forbidden" if self.status == 403 else "Unauthorized"

    @property
    def challenge(self) -> str:
        # RFC 6750's challenges: a bare one when no token came.
        if not self.token:
            return "Bearer"
        if self.status == 403:
            return 'Bearer error="insufficient_scope"'
        description = self.reason.replace('"', "'")
        return f'Bearer error="invalid_token", error_description="{description}"'


@dataclass(frozen=True)
class Grant:
    """What an accepted token puts in the event's `requestContext.authorizer.jwt`."""

    claims: dict[str, str]
    scopes: list[str] | None


def claim_text(value: Any) -> str:
    """A claim as API Gateway hands it to a payload 2.0 integration: strings as they are,
    numbers and booleans as text, arrays as `[a b]`, objects as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(claim_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _token_scopes(claims: Mapping[str, Any]) -> list[str]:
    value = claims.get("scp", claims.get("scope"))
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


def _numeric(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(f"the {name} claim is not a number")
    return float(value)


class JwtAuthorizer:
    """The JWT authorizer of the routes in `rules` (the template's, see
    `Template.http_jwt_rules`), verifying signatures with the keys of `key_set()` (a JWKS
    document, read on each check, as it is served). `now` is the clock, in epoch seconds."""

    def __init__(
        self,
        rules: Mapping[str, JwtRule],
        key_set: Callable[[], Mapping[str, Any]],
        now: Callable[[], float] = time.time,
    ) -> None:
        self.rules = dict(rules)
        self.key_set = key_set
        self.now = now

    def check(self, route_key: str, headers: Mapping[str, str]) -> Grant | None:
        """None for a route without the authorizer; the grant for an accepted token; raises
        `Refused` otherwise. `headers` have lower-case names, as API Gateway's events do."""
        rule = self.rules.get(route_key)
        if rule is None:
            return None
        claims = self.verify(headers.get(rule.header), rule)
        if not rule.scopes:
            # API Gateway fills `scopes` only for a route that asks for some.
            return Grant({k: claim_text(v) for k, v in claims.items() if v is not None}, None)
        granted = _token_scopes(claims)
        if not set(granted) & set(rule.scopes):
            raise Refused(f"none of the route's scopes {list(rule.scopes)}", status=403)
        return Grant({k: claim_text(v) for k, v in claims.items() if v is not None}, granted)

    def verify(self, source: str | None, rule: JwtRule) -> dict[str, Any]:
        """The token's claims, once every check of the rule holds."""
        token = (source or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise Refused("no token in the identity source", token=False)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as error:
            raise Refused(f"malformed token ({error})") from None
        algorithm = header.get("alg")
        if algorithm not in RSA_ALGORITHMS:
            raise Refused(f"algorithm {algorithm!r} is not an RSA one")
        kid = header.get("kid")
        key = self._key(kid) if isinstance(kid, str) else None
        if key is None:
            raise Refused(f"no key {kid!r} in the issuer's key set")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                # The signature only: the claims follow API Gateway's rules, below.
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
        except jwt.InvalidTokenError as error:
            raise Refused(f"the signature does not verify ({error})") from None
        self._check_claims(claims, rule)
        return claims

    def _key(self, kid: str) -> jwt.PyJWK | None:
        try:
            keys = jwt.PyJWKSet.from_dict(dict(self.key_set()))
        except jwt.PyJWKSetError:
            return None
        for key in keys.keys:
            if key.key_id == kid and key.key_type == "RSA":
                return key
        return None

    def _check_claims(self, claims: Mapping[str, Any], rule: JwtRule) -> None:
        if claims.get("iss") != rule.issuer:
            raise Refused("the token does not have a valid issuer")
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(isinstance(a, str) and a in rule.audiences for a in audiences):
            raise Refused("the token does not have a valid audience")
        now = self.now()
        expires = _numeric(claims, "exp")
        if expires is None:
            raise Refused("the token has no expiry (exp)")
        if expires <= now:
            raise Refused("the token has expired")
        for name in ("nbf", "iat"):
            moment = _numeric(claims, name)
            if moment is not None and moment > now:
                raise Refused(f"the token is not valid yet ({name})")
