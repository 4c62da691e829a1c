"""GET/DELETE /images/{id}, GET /sessions/{id}/images and unlink, on moto."""

from __future__ import annotations

import base64
from urllib.parse import urlparse

import boto3
import pytest
import requests

from imagepipe_local.http_api import HttpFront, LocalHttpApi
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.template import Template
from tests.integration.helpers import (
    api_with,
    bucket,
    items,
    object_keys,
    presign,
    seed_processed_image,
)

IMAGE_A = "a" * 32
IMAGE_B = "b" * 32


def test_get_image_returns_the_full_record_with_presigned_urls(
    aws: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a processed image, and the API without a CDN (the URLs are fetched from moto's S3)
    image = seed_processed_image(aws, image_id=IMAGE_A)
    api = api_with(aws, monkeypatch, {"CDN_BASE_URL": "", "CDN_KEY_PAIR_ID": ""})
    # When it is read
    response = api.request("GET", f"/images/{IMAGE_A}")
    # Then every documented field is there
    assert response.status == 200, response.body
    body = response.json()
    assert body["imageId"] == IMAGE_A
    assert body["status"] == "completed"
    assert (body["width"], body["height"]) == (4000, 3000)
    assert body["sha256"] == image.sha256
    assert body["error"] is None
    assert body["metadata"] == {"format": "JPEG"}
    for field in ("filename", "contentType", "size", "uploadedAt", "processedAt", "createdAt"):
        assert body[field] is not None, field
    assert body["original"]["key"] == image.original_key
    assert {(v["name"], v["format"]) for v in body["variants"]} == {
        (name, fmt) for name in ("small", "medium", "large") for fmt in ("webp", "avif")
    }
    thumbnail = body["thumbnail"]
    assert (thumbnail["width"], thumbnail["height"]) == (150, 150)
    assert thumbnail["dataUri"] == "data:image/webp;base64," + base64.b64encode(
        b"RIFF....WEBPVP8 "
    ).decode("ascii")
    # And each URL is a presigned GET of its own key that fetches the object
    assert image.thumbnail is not None
    urls = {body["original"]["key"]: body["original"]["url"], image.thumbnail.key: thumbnail["url"]}
    urls.update({v["key"]: v["url"] for v in body["variants"]})
    assert set(urls) == {image.original_key, image.thumbnail.key, *(v.key for v in image.variants)}
    for key, url in urls.items():
        assert "X-Amz-Signature=" in url
        assert urlparse(url).path.endswith(key)
        fetched = requests.get(url, timeout=10)
        assert fetched.status_code == 200
        assert fetched.content == b"x"


def test_get_pending_image_has_no_urls_yet(api: LocalHttpApi, aws: Template) -> None:
    # Given an image presigned but never uploaded
    upload = presign(api, "s-1", b"some bytes").json()["uploads"][0]
    # When it is read
    body = api.request("GET", f"/images/{upload['imageId']}").json()
    # Then it is pending, with no original, thumbnail or variants and no upload time
    assert body["status"] == "pending_upload"
    assert (body["original"], body["thumbnail"], body["variants"]) == (None, None, [])
    assert body["uploadedAt"] is None


@pytest.mark.parametrize("image_id", ["f" * 32, "bad!id", "x" * 300])
def test_unknown_or_impossible_ids_are_404(api: LocalHttpApi, aws: Template, image_id: str) -> None:
    # Given an id no image has, or none could have / When it is read / Then 404 not_found
    response = api.request("GET", f"/images/{image_id}")
    assert response.status == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_route_is_404_with_the_error_shape(api: LocalHttpApi, aws: Template) -> None:
    # API Gateway answers unknown routes itself; the handler must still answer its own shape
    # when it gets a path it has no route for (e.g. a catch-all route).
    # Given an event for a catch-all route, on a path the images API does not serve
    from imagepipe_local.events import http_api_event

    event = http_api_event(route_key="$default", path="/nope")
    # When the images API function gets it
    response = api.send("ImagesApiFunction", event)
    # Then it answers 404 in the API's error shape, with the code route_not_found
    assert response.status == 404
    assert response.json()["error"]["code"] == "route_not_found"


def test_session_listing_is_newest_first_and_paginated(api: LocalHttpApi, aws: Template) -> None:
    # Given five images presigned one after another in one session
    ids = [presign(api, "s-1", bytes([i]) * 10).json()["uploads"][0]["imageId"] for i in range(5)]
    # When the session is listed two at a time
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = {"limit": "2", **({"nextToken": token} if token else {})}
        body = api.request("GET", "/sessions/s-1/images", query=query).json()
        pages += 1
        seen += [image["imageId"] for image in body["images"]]
        token = body["nextToken"]
        if token is None:
            break
    # Then every image comes once, newest first, in three pages and no empty one
    assert seen == list(reversed(ids))
    assert pages == 3
    # And each summary carries the fields a gallery needs
    summary = api.request("GET", "/sessions/s-1/images").json()["images"][0]
    assert set(summary) >= {"imageId", "status", "filename", "thumbnail", "width", "height"}


def test_listing_shows_the_thumbnail_once_it_exists(api: LocalHttpApi, aws: Template) -> None:
    # Given a processed image in s-1
    seed_processed_image(aws, image_id=IMAGE_A)
    # When s-1 is listed
    (image,) = api.request("GET", "/sessions/s-1/images").json()["images"]
    # Then its summary carries the thumbnail inline, as a WebP data URI
    assert image["thumbnail"]["dataUri"].startswith("data:image/webp;base64,")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"nextToken": "bm90LWEtdG9rZW4"}, "invalid_next_token"),
        ({"nextToken": "%%%"}, "invalid_next_token"),
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "101"}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"limit": ""}, "invalid_limit"),  # `?limit=`: API Gateway passes it as ""
    ],
)
def test_bad_listing_parameters_are_400(
    api: LocalHttpApi, aws: Template, query: dict[str, str], code: str
) -> None:
    # Given a nextToken that is not one, or a limit that is not a number from 1 to 100
    # When s-1 is listed with it
    response = api.request("GET", "/sessions/s-1/images", query=query)
    # Then it is a 400 with the code of the bad parameter
    assert response.status == 400, response.body
    assert response.json()["error"]["code"] == code


def test_delete_image_leaves_zero_objects_and_zero_items(api: LocalHttpApi, aws: Template) -> None:
    # Given a processed image linked to two sessions, a staging copy, and a stray object that a
    # crashed worker wrote under the image's variants prefix without recording it
    image = seed_processed_image(aws, image_id=IMAGE_A, sessions=("s-1", "s-2"))
    s3 = boto3.client("s3", region_name=aws.names.region)
    s3.put_object(Bucket=bucket(aws), Key=f"uploads/{IMAGE_A}", Body=b"x")
    stray = f"images/{image.key_date}/variants/{IMAGE_A}_large.webp.tmp"
    s3.put_object(Bucket=bucket(aws), Key=stray, Body=b"x")
    assert len(object_keys(aws)) == 10
    # When it is deleted
    response = api.request("DELETE", f"/images/{IMAGE_A}")
    # Then 204, and nothing of it is left anywhere
    assert response.status == 204
    assert response.body == ""
    assert object_keys(aws) == []
    assert items(aws, "ImagesTable") == []
    assert items(aws, "SessionImagesTable") == []
    # And it is gone for readers, and a second delete is a 404
    assert api.request("GET", f"/images/{IMAGE_A}").status == 404
    assert api.request("DELETE", f"/images/{IMAGE_A}").status == 404
    assert api.request("GET", "/sessions/s-2/images").json()["images"] == []


def test_delete_touches_no_other_image(api: LocalHttpApi, aws: Template) -> None:
    # Given two processed images, A and B, in the same session
    seed_processed_image(aws, image_id=IMAGE_A, data=b"one")
    seed_processed_image(aws, image_id=IMAGE_B, data=b"two")
    before = [key for key in object_keys(aws) if IMAGE_B in key]
    # When A is deleted
    assert api.request("DELETE", f"/images/{IMAGE_A}").status == 204
    # Then only B's objects are left, B can still be read, and only B's link remains
    assert object_keys(aws) == before
    assert api.request("GET", f"/images/{IMAGE_B}").status == 200
    assert [i["imageId"]["S"] for i in items(aws, "SessionImagesTable")] == [IMAGE_B]


def test_deleted_hash_can_be_uploaded_again_as_new(api: LocalHttpApi, aws: Template) -> None:
    # Given an image presigned, then deleted
    first = presign(api, "s-1", b"again").json()["uploads"][0]
    assert api.request("DELETE", f"/images/{first['imageId']}").status == 204
    # When the same bytes are presigned again
    second = presign(api, "s-1", b"again").json()["uploads"][0]
    # Then they make a new image, with a new id
    assert second["isNew"] is True
    assert second["imageId"] != first["imageId"]


def test_delete_of_another_tenants_image_is_404_and_deletes_nothing(
    api: LocalHttpApi, aws: Template
) -> None:
    # Given alice's processed image
    seed_processed_image(aws, image_id=IMAGE_A, tenant="alice")
    count = len(object_keys(aws))
    # When mallory deletes it
    response = api.request("DELETE", f"/images/{IMAGE_A}", jwt_claims={"sub": "mallory"})
    # Then it is a 404, no object is gone, and alice can still read her image
    assert response.status == 404
    assert len(object_keys(aws)) == count
    assert api.request("GET", f"/images/{IMAGE_A}", jwt_claims={"sub": "alice"}).status == 200


def test_unlink_touches_only_that_session(api: LocalHttpApi, aws: Template) -> None:
    # Given an image in two sessions
    seed_processed_image(aws, image_id=IMAGE_A, sessions=("s-1", "s-2"))
    objects = object_keys(aws)
    # When it is unlinked from s-1
    response = api.request("DELETE", f"/sessions/s-1/images/{IMAGE_A}")
    # Then s-1 no longer lists it, s-2 still does, and the image and its objects stay
    assert response.status == 204
    assert api.request("GET", "/sessions/s-1/images").json()["images"] == []
    listed = api.request("GET", "/sessions/s-2/images").json()["images"]
    assert [i["imageId"] for i in listed] == [IMAGE_A]
    assert api.request("GET", f"/images/{IMAGE_A}").status == 200
    assert object_keys(aws) == objects
    # And unlinking again is a 404 (there is no such link)
    again = api.request("DELETE", f"/sessions/s-1/images/{IMAGE_A}")
    assert again.status == 404


def test_unlink_is_per_tenant(api: LocalHttpApi, aws: Template) -> None:
    # Given alice's image in her session s-1
    seed_processed_image(aws, image_id=IMAGE_A, tenant="alice")
    # When bob unlinks that id from his own s-1
    response = api.request("DELETE", f"/sessions/s-1/images/{IMAGE_A}", jwt_claims={"sub": "bob"})
    # Then it is a 404 and alice's link is still there
    assert response.status == 404
    assert len(items(aws, "SessionImagesTable")) == 1


def test_a_token_of_one_session_is_refused_on_another(api: LocalHttpApi, aws: Template) -> None:
    # Given two sessions of three images each, and a next-page token from listing s-a
    for i in range(3):
        presign(api, "s-a", bytes([i]) * 5)
        presign(api, "s-b", bytes([i + 10]) * 5)
    token = api.request("GET", "/sessions/s-a/images", query={"limit": "1"}).json()["nextToken"]
    assert token
    # When that token is used to list s-b
    response = api.request("GET", "/sessions/s-b/images", query={"limit": "1", "nextToken": token})
    # Then it is refused as an invalid next token
    assert response.status == 400
    assert response.json()["error"]["code"] == "invalid_next_token"


def test_a_link_left_by_a_racing_delete_is_skipped_and_removed(
    api: LocalHttpApi, aws: Template
) -> None:
    # Given a link to an image that no longer exists (written while a delete cascaded)
    from datetime import UTC, datetime

    from imagepipe.domain.model import SessionLink
    from tests.integration.helpers import links_repo

    links_repo(aws).link(SessionLink("public", "s-1", "dead" * 8, datetime.now(UTC)))
    seed_processed_image(aws, image_id=IMAGE_A)
    # When the session is listed
    listed = api.request("GET", "/sessions/s-1/images").json()["images"]
    # Then only the live image is shown and the dangling link is gone
    assert [i["imageId"] for i in listed] == [IMAGE_A]
    assert [i["imageId"]["S"] for i in items(aws, "SessionImagesTable")] == [IMAGE_A]


def test_the_local_front_passes_an_empty_query_value_as_api_gateway_does(
    runner: FunctionRunner,
) -> None:
    # Given the local API port / When a listing is asked for with `?limit=` over HTTP
    front = HttpFront(LocalHttpApi(runner), "127.0.0.1", 0).start()
    try:
        response = requests.get(
            f"http://127.0.0.1:{front.port}/sessions/s-1/images?limit=", timeout=10
        )
    finally:
        front.stop()
    # Then the empty value reaches the handler (not dropped) and is refused as a bad limit
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_limit"
