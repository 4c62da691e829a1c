"""The local JWT authorizer (`imagepipe local --auth jwt`): every refusal API Gateway documents
for an HTTP API JWT authorizer, on tokens made here with PyJWT and keys made here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from imagepipe_local.authorizer import Grant, JwtAuthorizer, Refused, claim_text
from imagepipe_local.template import JwtRule, Template

ISSUER = "http://127.0.0.1:3000"
NOW = 1_800_000_000.0
ROUTE = "GET /images/{imageId}"
RULE = JwtRule(
    issuer=ISSUER, audiences=("imagepipe", "other-app"), header="authorization", scopes=()
)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_set(*keys: tuple[rsa.RSAPrivateKey, str]) -> dict[str, Any]:
    entries = []
    for key, kid in keys:
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        entries.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
    return {"keys": entries}


def authorizer(rules: dict[str, JwtRule] | None = None, now: float = NOW) -> JwtAuthorizer:
    return JwtAuthorizer(
        {ROUTE: RULE} if rules is None else rules, lambda: key_set((KEY, "k1")), lambda: now
    )


def token(
    *,
    key: rsa.RSAPrivateKey = KEY,
    kid: str | None = "k1",
    algorithm: str = "RS256",
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    payload = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": "imagepipe",
        "iat": int(NOW) - 10,
        "nbf": int(NOW) - 10,
        "exp": int(NOW) + 60,
        **claims,
    }
    for name in drop:
        payload.pop(name)
    headers = {} if kid is None else {"kid": kid}
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


def refusal(headers: dict[str, str], check: JwtAuthorizer | None = None) -> Refused:
    with pytest.raises(Refused) as refused:
        (check or authorizer()).check(ROUTE, headers)
    return refused.value


def test_a_valid_token_is_granted_with_its_claims_as_strings() -> None:
    # Given a valid token with numeric, list, object and null claims
    signed = token(groups=["admin", "ops"], address={"city": "Lyon"}, admin=True, nickname=None)
    # When the authorizer checks it on a route it guards
    grant = authorizer().check(ROUTE, bearer(signed))
    # Then the function gets every claim as API Gateway flattens them, and no scopes
    assert grant == Grant(
        claims={
            "iss": ISSUER,
            "sub": "alice",
            "aud": "imagepipe",
            "iat": str(int(NOW) - 10),
            "nbf": str(int(NOW) - 10),
            "exp": str(int(NOW) + 60),
            "groups": "[admin ops]",
            "address": '{"city":"Lyon"}',
            "admin": "true",
        },
        scopes=None,
    )


def test_a_route_without_the_authorizer_needs_no_token() -> None:
    # Given a route the template's API body does not guard / When checked without a token
    # Then there is nothing to grant and nothing refused
    assert authorizer().check("GET /elsewhere", {}) is None


def test_the_token_may_come_without_the_bearer_prefix() -> None:
    # Given the token alone in the header (API Gateway accepts both forms)
    # When checked / Then it is granted
    grant = authorizer().check(ROUTE, {"authorization": token()})
    assert grant is not None
    assert grant.claims["sub"] == "alice"


def test_no_token_is_refused_with_a_bare_challenge() -> None:
    # Given no Authorization header / When checked / Then 401 Unauthorized, naming no error
    refused = refusal({})
    assert (refused.status, refused.message, refused.challenge) == (401, "Unauthorized", "Bearer")


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Bearer not-a-jwt", "Basic YWxpY2U6c2VjcmV0", "Bearer a.b.c"],
)
def test_a_malformed_authorization_header_is_refused(header: str) -> None:
    # Given a header that holds no decodable token / When checked / Then 401
    refused = refusal({"authorization": header})
    assert (refused.status, refused.message) == (401, "Unauthorized")
    assert refused.challenge.startswith("Bearer")


def test_a_signature_by_another_key_under_the_same_kid_is_refused() -> None:
    # Given a token signed by a key that is not the issuer's, claiming the issuer's kid
    forged = token(key=OTHER_KEY)
    # When checked / Then refused for its signature
    refused = refusal(bearer(forged))
    assert refused.status == 401
    assert "signature" in refused.reason


def test_a_token_whose_claims_were_changed_after_signing_is_refused() -> None:
    # Given a valid token whose payload is swapped for another subject's
    header, _, signature = token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(token().split(".")[1] + "=="))
    claims["sub"] = "mallory"
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    # When checked / Then refused: the signature no longer matches
    assert "signature" in refusal(bearer(f"{header}.{payload}.{signature}")).reason


@pytest.mark.parametrize("kid", ["k2", None])
def test_a_kid_not_in_the_issuers_key_set_is_refused(kid: str | None) -> None:
    # Given a token signed by the issuer's key but naming another kid, or none
    # When checked / Then refused: API Gateway looks the key up by kid
    assert "no key" in refusal(bearer(token(kid=kid))).reason


def test_alg_none_is_refused() -> None:
    # Given an unsigned token (alg none) with otherwise valid claims
    unsigned = jwt.encode(
        {"iss": ISSUER, "sub": "alice", "aud": "imagepipe", "exp": int(NOW) + 60},
        key="",
        algorithm="none",
        headers={"kid": "k1"},
    )
    # When checked / Then refused before any key is used
    assert "RSA" in refusal(bearer(unsigned)).reason


def test_an_hmac_token_keyed_with_the_public_key_is_refused() -> None:
    # Given the classic algorithm confusion: HS256 keyed with the issuer's public JWK, made by
    # hand since PyJWT refuses to sign with it
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"iss": ISSUER, "sub": "alice", "aud": "imagepipe", "exp": int(NOW) + 60}
    signing_input = f"{part({'alg': 'HS256', 'kid': 'k1'})}.{part(claims)}"
    secret = json.dumps(key_set((KEY, "k1"))["keys"][0]).encode()
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    # When checked / Then refused: only RSA algorithms are accepted
    assert "RSA" in refusal(bearer(confused)).reason


def test_another_issuer_is_refused() -> None:
    # Given a token of the right key whose iss differs (even by a trailing slash)
    for issuer in (ISSUER + "/", "https://id.example"):
        # When checked / Then refused
        assert "issuer" in refusal(bearer(token(iss=issuer))).reason


@pytest.mark.parametrize("audience", ["someone-else", ["someone-else"], [], None])
def test_an_audience_that_is_not_configured_is_refused(audience: Any) -> None:
    # Given a token whose aud names no configured audience (or is missing altogether)
    signed = token(aud=audience) if audience is not None else token(drop=("aud",))
    # When checked / Then refused
    assert "audience" in refusal(bearer(signed)).reason


def test_one_configured_audience_among_several_is_enough() -> None:
    # Given a token for two audiences, one of them configured / When checked / Then granted
    assert authorizer().check(ROUTE, bearer(token(aud=["elsewhere", "other-app"])))


def test_client_id_stands_in_for_a_missing_aud_only() -> None:
    # Given a Cognito access token: no aud, the app client in client_id
    cognito = token(drop=("aud",), client_id="imagepipe")
    # When checked / Then granted
    assert authorizer().check(ROUTE, bearer(cognito))
    # But when aud is present it alone is evaluated, whatever client_id says
    assert "audience" in refusal(bearer(token(aud="wrong", client_id="imagepipe"))).reason


def test_the_clock_decides_expiry() -> None:
    # Given a token that expires at NOW + 60
    signed = bearer(token())
    # When checked a second before / Then granted; at the second itself and after / Then refused
    assert authorizer(now=NOW + 59).check(ROUTE, signed)
    for later in (NOW + 60, NOW + 3600):
        assert "expired" in refusal(signed, authorizer(now=later)).reason


def test_a_token_without_exp_is_refused() -> None:
    # Given a token that never expires / When checked / Then refused
    assert "exp" in refusal(bearer(token(drop=("exp",)))).reason


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_from_the_future_is_refused(claim: str) -> None:
    # Given a token whose nbf (or iat) is a second after now
    later = int(NOW) + 1
    signed = bearer(token(nbf=later) if claim == "nbf" else token(iat=later))
    # When checked now / Then refused; once that second has come / Then granted
    assert claim in refusal(signed).reason
    assert authorizer(now=NOW + 1).check(ROUTE, signed)


@pytest.mark.parametrize("value", ["1900000000", True, [1900000000]])
def test_a_time_claim_that_is_not_a_number_is_refused(value: Any) -> None:
    # Given an exp that is a string, a boolean or a list / When checked / Then refused
    assert "not a number" in refusal(bearer(token(exp=value))).reason


def test_a_route_with_scopes_needs_one_of_them() -> None:
    # Given a route that asks for the scope images/write
    scoped = JwtRule(ISSUER, ("imagepipe",), "authorization", ("images/write",))
    check = authorizer({ROUTE: scoped})
    # When a token without it comes / Then 403 Forbidden
    refused = refusal(bearer(token(scope="images/read")), check)
    assert (refused.status, refused.message) == (403, "Forbidden")
    # When a token with it (in scope or in Okta's scp list) comes / Then its scopes are passed on
    grant = check.check(ROUTE, bearer(token(scope="images/read images/write")))
    assert grant is not None
    assert grant.scopes == ["images/read", "images/write"]
    assert check.check(ROUTE, bearer(token(scp=["images/write"])))


def test_claims_are_flattened_as_api_gateway_does() -> None:
    # Given claims of every JSON type / When flattened / Then strings, as in a payload 2.0 event
    assert claim_text("alice") == "alice"
    assert claim_text(42) == "42"
    assert claim_text(False) == "false"
    assert claim_text(["a", 1, True]) == "[a 1 true]"
    assert claim_text({"b": [1, 2]}) == '{"b":[1,2]}'


def test_the_rules_are_the_templates_own() -> None:
    # Given the template with its defaults / When its JWT rules are read / Then none: open API
    assert Template.load().http_jwt_rules() == {}
    # Given the template with an issuer and an audience, as `imagepipe local --auth jwt` loads it
    template = Template.load(parameters={"JwtIssuer": ISSUER, "JwtAudience": "imagepipe"})
    # When its JWT rules are read
    rules = template.http_jwt_rules()
    # Then every HTTP route is guarded by the issuer, the audience and the Authorization header
    assert set(rules) == {route.route_key for route in template.http_routes()}
    assert set(rules.values()) == {JwtRule(ISSUER, ("imagepipe",), "authorization", ())}
