"""Every file in events/ is a complete API Gateway event that `sam local invoke -e` would accept;
each is invoked here through the handler its route belongs to, with the outcome it documents."""

from __future__ import annotations

import pytest

from imagepipe.local.invoke import LocalHttpApi
from imagepipe.local.template import Template
from tests.conftest import EVENTS, load_event
from tests.integration.helpers import seed_processed_image

SEEDED_IMAGE = "0f8e2d6c4b7a49e1a3c5d7e9f1b2c3d4"

# event file -> (status, error code or None)
EXPECTED: dict[str, tuple[int, str | None]] = {
    "presign_upload.json": (200, None),
    "presign_upload_two_files.json": (200, None),
    "presign_upload_session_header.json": (200, None),
    "presign_upload_jwt.json": (200, None),
    "presign_upload_bad_sha256.json": (400, "invalid_sha256"),
    "presign_upload_bad_content_type.json": (400, "unsupported_content_type"),
    "presign_upload_size_zero.json": (400, "invalid_size"),
    "presign_upload_too_large.json": (400, "file_too_large"),
    "presign_upload_too_many_files.json": (400, "too_many_files"),
    "presign_upload_no_files.json": (400, "no_files"),
    "presign_upload_no_session.json": (400, "missing_session_id"),
    "presign_upload_malformed_json.json": (400, "malformed_json"),
    "images_get.json": (200, None),
    "images_get_unknown.json": (404, "not_found"),
    "images_delete.json": (204, None),
    "sessions_list.json": (200, None),
    "sessions_list_bad_token.json": (400, "invalid_next_token"),
    "sessions_unlink.json": (204, None),
}


def test_every_event_file_has_an_expectation() -> None:
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_file(api: LocalHttpApi, aws: Template, name: str) -> None:
    # Given the image some events refer to
    seed_processed_image(aws, image_id=SEEDED_IMAGE, sessions=("s-1",))
    event = load_event(name)
    route = next(r for r in aws.http_routes() if r.route_key == event["routeKey"])
    # When the event is given to the function its route belongs to
    response = api.send(route.function, event)
    # Then it answers as documented
    status, code = EXPECTED[name]
    assert response.status == status, response.body
    if code is not None:
        assert response.json()["error"]["code"] == code
    if name == "images_get.json":
        assert response.json()["imageId"] == SEEDED_IMAGE
    if name == "sessions_list.json":
        assert [i["imageId"] for i in response.json()["images"]] == [SEEDED_IMAGE]
    if name == "presign_upload_two_files.json":
        assert [u["isNew"] for u in response.json()["uploads"]] == [True, True]
