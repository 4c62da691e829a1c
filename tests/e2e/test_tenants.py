"""Tenants end to end: `imagepipe local --auth jwt` in its own process, tokens from `imagepipe
token`. Every route of the template refuses a caller without a valid token before any function
runs, and every route keeps one tenant out of another's sessions and images: bob can neither
read, list, unlink, delete, re-upload (retry) nor follow alice's, and the same bytes make him an
image of his own."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from imagepipe_local.template import Template
from tests.e2e.conftest import RunningStack, free_port, imagepipe, local_only, local_stack
from tests.e2e.test_live_updates import a_jpeg, live, messages_until
from tests.e2e.test_local_stack import _presign, _presign_and_post, wait_for

pytestmark = [pytest.mark.e2e, local_only]

SESSION = "t-shared"  # both tenants use the same session id: they are still two sessions
ROUTES = Template.load().http_routes()
HTTP_FUNCTIONS = {route.function for route in ROUTES}


@pytest.fixture(scope="module")
def jwt_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    log = tmp_path_factory.mktemp("jwt-stack") / "imagepipe-local.log"
    with local_stack(log, "--auth", "jwt") as running:
        yield running


def token_for(stack: RunningStack, subject: str, expires_in: int = 600) -> str:
    minted = imagepipe(
        "token", "--sub", subject, "--api", stack.api, "--expires-in", str(expires_in)
    )
    assert minted.returncode == 0, minted.stderr
    # The token alone and a newline, for $(imagepipe token ...)
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+\n", minted.stdout), minted.stdout
    assert minted.stderr == ""
    return minted.stdout.removesuffix("\n")


def as_tenant(stack: RunningStack, subject: str) -> RunningStack:
    """The stack as seen by `subject`: every API call carries their bearer token."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token_for(stack, subject)}"
    return dataclasses.replace(stack, http=session)


@pytest.fixture(scope="module")
def alice(jwt_stack: RunningStack) -> RunningStack:
    return as_tenant(jwt_stack, "alice")


@pytest.fixture(scope="module")
def bob(jwt_stack: RunningStack) -> RunningStack:
    return as_tenant(jwt_stack, "bob")


def invocations(stack: RunningStack) -> int:
    """How many times the stack's log says an HTTP function ran."""
    assert stack.log is not None
    pattern = re.compile(rf"^\S+ ({'|'.join(HTTP_FUNCTIONS)}) \d+ ms ", re.MULTILINE)
    return len(pattern.findall(stack.log.read_text()))


def send(stack: RunningStack, route_key: str, headers: dict[str, str]) -> requests.Response:
    method, path = route_key.split(" ", 1)
    url = stack.api + path.format(imageId="0" * 32, sessionId=SESSION)
    body = {"sessionId": SESSION, "files": []} if method == "POST" else None
    return requests.request(method, url, json=body, headers=headers, timeout=10)


def test_the_stack_serves_its_issuer_documents(jwt_stack: RunningStack) -> None:
    # Given the stack run with --auth jwt / When its discovery document is read
    discovery = requests.get(f"{jwt_stack.api}/.well-known/openid-configuration", timeout=5)
    # Then the stack's base URL is the issuer and its key set is served beside it
    assert discovery.json()["issuer"] == jwt_stack.api
    keys = requests.get(discovery.json()["jwks_uri"], timeout=5).json()["keys"]
    assert [(k["kty"], k["alg"]) for k in keys] == [("RSA", "RS256")]
    # And a minted token names that key and that issuer, for the stack's audience
    minted = token_for(jwt_stack, "alice")
    assert jwt.get_unverified_header(minted)["kid"] == keys[0]["kid"]
    claims = jwt.decode(minted, options={"verify_signature": False})
    assert (claims["iss"], claims["sub"], claims["aud"]) == (jwt_stack.api, "alice", "imagepipe")
    # And where no stack answers, `imagepipe token` says so in one line
    missing = imagepipe("token", "--sub", "alice", "--api", f"http://127.0.0.1:{free_port()}")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr.startswith("imagepipe token: no local stack answers at")
    assert missing.stderr.count("\n") == 1


def test_every_route_refuses_a_missing_or_bad_token_before_any_function_runs(
    jwt_stack: RunningStack,
) -> None:
    # Given tokens that must not pass: none, garbage, another key's under the stack's kid,
    # and one of the stack's own that has expired
    kid = requests.get(f"{jwt_stack.api}/.well-known/jwks.json", timeout=5).json()["keys"][0]["kid"]
    claims = {"iss": jwt_stack.api, "sub": "alice", "aud": "imagepipe", "exp": time.time() + 600}
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, impostor, algorithm="RS256", headers={"kid": kid})
    expired = token_for(jwt_stack, "alice", expires_in=1)
    time.sleep(2)
    bad: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {expired}"},
    ]
    ran_before = invocations(jwt_stack)
    # When each is sent to every route of the template
    for route in ROUTES:
        for headers in bad:
            response = send(jwt_stack, route.route_key, headers)
            # Then API Gateway's 401 comes back
            assert response.status_code == 401, (route.route_key, headers, response.text)
            assert response.json() == {"message": "Unauthorized"}
            assert response.headers["www-authenticate"].startswith("Bearer")
    # And no function ran for any of them
    assert invocations(jwt_stack) == ran_before
    # While the same routes with a valid token do reach the functions
    valid = {"Authorization": f"Bearer {token_for(jwt_stack, 'alice')}"}
    assert send(jwt_stack, "GET /sessions/{sessionId}/images", valid).status_code == 200
    assert invocations(jwt_stack) == ran_before + 1


def listed(stack: RunningStack) -> list[str]:
    response = stack.http.get(f"{stack.api}/sessions/{SESSION}/images", timeout=10)
    assert response.status_code == 200, response.text
    return [image["imageId"] for image in response.json()["images"]]


def test_another_tenant_reaches_nothing_of_alices_on_any_route(
    alice: RunningStack, bob: RunningStack
) -> None:
    # Given alice's completed image and her failed one (a truncated JPEG), both in her session
    photo, broken = a_jpeg(71), a_jpeg(72, truncated=True)
    mine = _presign_and_post(alice, photo, SESSION)["imageId"]
    failed = _presign_and_post(alice, broken, SESSION)["imageId"]
    assert wait_for(alice, mine)["status"] == "completed"
    assert wait_for(alice, failed)["status"] == "failed"

    # When bob tries every route of the template on her session and images
    api = bob.api

    def read() -> None:
        # Then reading her images is a 404, as for an id that does not exist
        for image_id in (mine, failed):
            assert bob.http.get(f"{api}/images/{image_id}", timeout=10).status_code == 404

    def list_session() -> None:
        # Then his session of the same name is empty
        assert listed(bob) == []

    def unlink() -> None:
        # Then unlinking her image from "the" session is a 404: his session has no such link
        url = f"{api}/sessions/{SESSION}/images/{mine}"
        assert bob.http.delete(url, timeout=10).status_code == 404

    def delete() -> None:
        # Then deleting her image is a 404
        assert bob.http.delete(f"{api}/images/{mine}", timeout=10).status_code == 404

    def upload() -> None:
        # Then presigning her bytes gives him new images of his own: the completed one is not
        # a duplicate for him, and her failed one is not his to retry
        for data, hers in ((photo, mine), (broken, failed)):
            entry = _presign(bob, data, SESSION)
            assert (entry["isNew"], "upload" in entry) == (True, True)
            assert entry["imageId"] != hers

    def search() -> None:
        # Then searching her file's word (and "the" session) finds nothing of hers, while her
        # own search finds her image
        for params in ({"q": "again"}, {"q": "again", "sessionId": SESSION}):
            answer = bob.http.get(f"{api}/search", params=params, timeout=10)
            assert answer.status_code == 200, answer.text
            assert answer.json()["results"] == []
        hers = alice.http.get(f"{alice.api}/search", params={"q": "again"}, timeout=10)
        assert [r["imageId"] for r in hers.json()["results"]] == [mine]

    def similar() -> None:
        # Then asking for images like hers is a 404, as for an id that does not exist
        answer = bob.http.get(f"{api}/images/{mine}/similar", timeout=10)
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")

    def follow() -> None:
        # Then his socket on "the" session hears nothing when she deletes her image, while
        # hers does (run last: it deletes her image)
        with live(bob, SESSION) as his:
            with live(alice, SESSION) as hers:
                assert alice.http.delete(f"{api}/images/{mine}", timeout=10).status_code == 204
                heard = messages_until(hers, mine, "image.deleted", timeout=15)
                assert heard[-1]["sessionId"] == SESSION
            with pytest.raises(TimeoutError):
                his.recv(timeout=2)

    # And her large file, whose multipart upload is open (no byte sent yet)
    large = alice.http.post(
        f"{api}/uploads",
        json={
            "sessionId": SESSION,
            "files": [
                {
                    "filename": "scan.png",
                    "contentType": "image/png",
                    "size": 20_000_000,
                    "sha256": hashlib.sha256(b"alice's scan").hexdigest(),
                }
            ],
        },
        timeout=10,
    ).json()["uploads"][0]
    assert large["upload"]["method"] == "MULTIPART"
    part = {"partNumber": 1, "size": large["upload"]["partSize"], "sha256": "A" * 43 + "="}

    def multipart(method: str, path: str, body: object = None) -> Callable[[], None]:
        def probe() -> None:
            # Then her upload is unknown to him: sign, list, complete and abort are 404s
            answer = bob.http.request(method, f"{api}{path}", json=body, timeout=10)
            assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")

        return probe

    large_id = large["imageId"]
    probes: dict[str, Callable[[], None]] = {
        "POST /uploads/{imageId}/parts": multipart(
            "POST", f"/uploads/{large_id}/parts", {"parts": [part]}
        ),
        "GET /uploads/{imageId}/parts": multipart("GET", f"/uploads/{large_id}/parts"),
        "POST /uploads/{imageId}/complete": multipart(
            "POST", f"/uploads/{large_id}/complete", {"parts": [{"partNumber": 1, "etag": "x"}]}
        ),
        "DELETE /uploads/{imageId}": multipart("DELETE", f"/uploads/{large_id}"),
        "GET /images/{imageId}": read,
        "GET /search": search,
        "GET /images/{imageId}/similar": similar,
        "GET /sessions/{sessionId}/images": list_session,
        "DELETE /sessions/{sessionId}/images/{imageId}": unlink,
        "DELETE /images/{imageId}": delete,
        "POST /uploads": upload,
        "POST /sessions/{sessionId}/events": follow,
    }
    # (every route of the template is probed: a new route fails here until it is)
    assert set(probes) == {route.route_key for route in ROUTES}
    for check in probes.values():
        if check is not follow:
            check()
    # And, all that tried, alice still has both images, listed in her session, and she can
    # retry her failed one (the same imageId, a fresh upload)
    assert alice.http.get(f"{api}/images/{mine}", timeout=10).json()["status"] == "completed"
    assert set(listed(alice)) == {mine, failed, large_id}
    retried = _presign(alice, broken, SESSION)
    assert (retried["imageId"], "upload" in retried) == (failed, True)
    # And her upload is still open for her
    assert alice.http.get(f"{api}/uploads/{large_id}/parts", timeout=10).status_code == 200
    assert alice.http.delete(f"{api}/uploads/{large_id}", timeout=10).status_code == 204
    # And her delete reaches her socket only
    follow()
    assert alice.http.get(f"{api}/images/{mine}", timeout=10).status_code == 404


def test_the_same_bytes_make_each_tenant_their_own_image(
    jwt_stack: RunningStack, alice: RunningStack, tmp_path: Path
) -> None:
    # Given a photo alice uploaded and that completed
    photo = tmp_path / "shared.jpg"
    photo.write_bytes(a_jpeg(73))
    hers = _presign_and_post(alice, photo.read_bytes(), SESSION)["imageId"]
    assert wait_for(alice, hers)["status"] == "completed"
    # When carol uploads the same file with `imagepipe upload --token`
    carol = as_tenant(jwt_stack, "carol")
    token = str(carol.http.headers["Authorization"]).removeprefix("Bearer ")
    sent = imagepipe(
        "upload", str(photo), "--session", SESSION, "--api", jwt_stack.api, "--token", token
    )
    # Then it is a new image for her, processed to the end
    assert sent.returncode == 0, sent.stdout + sent.stderr
    (row,) = [line for line in sent.stdout.splitlines() if line.startswith(str(photo))]
    theirs, new, status = row.split()[1:4]
    assert (new, status) == ("new", "completed")
    assert theirs != hers
    # And each lists only their own image in their session of the same name
    assert listed(carol) == [theirs]
    assert hers in listed(alice)
    assert theirs not in listed(alice)
    # And `imagepipe ls --token` and `get --token` show her session and image as she sees them
    mine = imagepipe("ls", SESSION, "--api", jwt_stack.api, "--token", token, "--json")
    assert [image["imageId"] for image in json.loads(mine.stdout)["images"]] == [theirs]
    got = imagepipe("get", theirs, "--api", jwt_stack.api, "--token", token, "--json")
    assert json.loads(got.stdout)["status"] == "completed"
    # While the same upload without a token is refused by the authorizer: exit 4, one line
    refused = imagepipe("upload", str(photo), "--session", SESSION, "--api", jwt_stack.api)
    assert refused.returncode == 4
    assert refused.stderr == "imagepipe: 401: Unauthorized\n"
