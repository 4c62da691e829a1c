"""The local stack as identity provider and the API port behind the JWT authorizer: tokens it
mints pass the template's authorizer, its key outlives a restart in --data-dir, its token
endpoint answers loopback clients only, and a refused request never reaches a function."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.requests import Request
from starlette.routing import Route

from imagepipe_local.authorizer import JwtAuthorizer, Refused
from imagepipe_local.http_api import LocalHttpApi
from imagepipe_local.identity import (
    JWKS_PATH,
    KEY_FILE,
    LOCAL_AUDIENCE,
    TOKEN_PATH,
    LocalIdentityProvider,
    local_authorizer,
)
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.template import Template

ISSUER = "http://127.0.0.1:3000"
TEMPLATE = Template.load(parameters={"JwtIssuer": ISSUER, "JwtAudience": LOCAL_AUDIENCE})


@pytest.fixture(scope="module")
def identity() -> LocalIdentityProvider:
    return LocalIdentityProvider(ISSUER)


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


def test_a_minted_token_passes_the_templates_authorizer(identity: LocalIdentityProvider) -> None:
    # Given the authorizer of the template loaded with the stack as issuer, keyed by its JWKS
    check = JwtAuthorizer(TEMPLATE.http_jwt_rules(), identity.jwks)
    # When a token minted for bob is checked on every route
    signed, _ = identity.mint("bob", 60)
    for route in TEMPLATE.http_routes():
        grant = check.check(route.route_key, bearer(signed))
        # Then each route grants it, with bob as the subject and the stack as the issuer
        assert grant is not None
        assert (grant.claims["sub"], grant.claims["iss"]) == ("bob", ISSUER)


def test_the_issuer_documents_point_at_the_key_set(identity: LocalIdentityProvider) -> None:
    # Given the local issuer / When its discovery document is read
    document = identity.discovery()
    # Then it names the API's base URL as issuer and the key set beside it
    assert document["issuer"] == ISSUER
    assert document["jwks_uri"] == ISSUER + JWKS_PATH
    # And the key set holds one RS256 signing key under the kid the tokens carry
    (key,) = identity.jwks()["keys"]
    assert (key["kty"], key["alg"], key["use"], key["kid"]) == ("RSA", "RS256", "sig", identity.kid)
    assert "d" not in key  # the public half only


def test_the_key_in_the_data_dir_outlives_a_restart(tmp_path: Path) -> None:
    # Given a stack that kept its key in its data dir and minted a token
    first = LocalIdentityProvider(ISSUER, key_file=tmp_path / KEY_FILE)
    signed, _ = first.mint("alice", 60)
    # When the stack starts again on the same data dir
    second = LocalIdentityProvider(ISSUER, key_file=tmp_path / KEY_FILE)
    # Then it has the same key, and the earlier token still passes
    assert second.kid == first.kid
    assert JwtAuthorizer(TEMPLATE.http_jwt_rules(), second.jwks).check(
        "POST /uploads", bearer(signed)
    )
    # And the key file is readable by its owner only
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_without_a_data_dir_each_run_has_its_own_key(identity: LocalIdentityProvider) -> None:
    # Given a token of one run / When another run (a new key) checks it / Then refused
    signed, _ = identity.mint("alice", 60)
    other = LocalIdentityProvider(ISSUER)
    assert other.kid != identity.kid
    with pytest.raises(Refused, match="no key"):
        JwtAuthorizer(TEMPLATE.http_jwt_rules(), other.jwks).check("POST /uploads", bearer(signed))


def call_token_endpoint(routes: list[Any], body: Any, client: str) -> tuple[int, Any]:
    """POST /local/token as the API port serves it, from `client`."""
    (route,) = [r for r in routes if isinstance(r, Route) and r.path == TOKEN_PATH]
    raw = json.dumps(body).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": TOKEN_PATH,
        "headers": [],
        "query_string": b"",
        "client": (client, 50000),
    }
    response = asyncio.run(route.endpoint(Request(scope, receive)))
    return response.status_code, json.loads(bytes(response.body))


def test_the_token_endpoint_answers_loopback_clients_only(identity: LocalIdentityProvider) -> None:
    # Given a request for carol's token from another machine / When sent / Then 403
    status, body = call_token_endpoint(identity.asgi_routes({}), {"sub": "carol"}, "192.0.2.7")
    assert (status, body["error"]["code"]) == (403, "forbidden")
    # Given the same from loopback (IPv4 or IPv6) / When sent / Then a token for carol
    for client in ("127.0.0.1", "::1"):
        status, body = call_token_endpoint(identity.asgi_routes({}), {"sub": "carol"}, client)
        assert status == 200
        grant = JwtAuthorizer(TEMPLATE.http_jwt_rules(), identity.jwks).check(
            "POST /uploads", bearer(body["token"])
        )
        assert grant is not None
        assert grant.claims["sub"] == "carol"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_sub"),
        ({"sub": ""}, "invalid_sub"),
        ({"sub": "a#b"}, "invalid_sub"),  # '#' separates the tenant in stored keys
        ({"sub": "dave", "expiresIn": 0}, "invalid_expires_in"),
        ({"sub": "dave", "expiresIn": 86401}, "invalid_expires_in"),
        ({"sub": "dave", "expiresIn": "60"}, "invalid_expires_in"),
    ],
)
def test_the_token_endpoint_refuses_bad_requests(
    identity: LocalIdentityProvider, body: Any, code: str
) -> None:
    # Given a bad subject or lifetime / When sent from loopback / Then 400 naming it
    status, answer = call_token_endpoint(identity.asgi_routes({}), body, "127.0.0.1")
    assert (status, answer["error"]["code"]) == (400, code)


class RecordingRunner:
    """Stands in for the functions: records each event instead of running a handler."""

    def __init__(self) -> None:
        self.template = TEMPLATE
        self.events: list[dict[str, Any]] = []

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "headers": {}, "body": "{}"}


def test_a_refused_request_never_reaches_the_function(identity: LocalIdentityProvider) -> None:
    # Given the API behind the local authorizer, as `imagepipe local --auth jwt` wires it
    authorizer, _ = local_authorizer(TEMPLATE, ISSUER, None)
    runner = RecordingRunner()
    api = LocalHttpApi(cast(FunctionRunner, runner), authorizer)
    # When a request comes without a token and one with another run's token
    other, _ = identity.mint("alice", 60)
    answers = [
        api.request("GET", "/sessions/s-1/images"),
        api.request("GET", "/sessions/s-1/images", headers=bearer(other)),
    ]
    # Then both get API Gateway's 401 and no function ran
    for answer in answers:
        assert (answer.status, answer.body) == (401, '{"message":"Unauthorized"}')
        assert answer.headers["content-type"] == "application/json"
    assert runner.events == []


def test_a_granted_request_carries_the_claims_in_the_event() -> None:
    # Given the API behind the local authorizer and a token minted by the same run's issuer
    authorizer, routes = local_authorizer(TEMPLATE, ISSUER, None)
    runner = RecordingRunner()
    api = LocalHttpApi(cast(FunctionRunner, runner), authorizer)
    status, body = call_token_endpoint(routes, {"sub": "erin", "expiresIn": 60}, "127.0.0.1")
    assert status == 200
    # When erin's request comes with that token
    answer = api.request(
        "DELETE", "/images/abc", headers={"Authorization": f"Bearer {body['token']}"}
    )
    # Then the function ran once, with erin's claims as strings and no scopes
    assert answer.status == 200
    (event,) = runner.events
    jwt_context = event["requestContext"]["authorizer"]["jwt"]
    assert jwt_context["claims"]["sub"] == "erin"
    assert jwt_context["claims"]["aud"] == LOCAL_AUDIENCE
    assert isinstance(jwt_context["claims"]["exp"], str)
    assert jwt_context["scopes"] is None
