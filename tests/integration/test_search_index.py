"""Search's index on moto: the metadata job tags an image and puts its vector in S3 Vectors
with its tenant and sessions; deleting the image takes the vector out; a job for an image
deleted meanwhile leaves none. The template's local providers (LabelsProvider=local,
EmbeddingProvider=local), as the local stack runs them."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from PIL import Image as PILImage

from imagepipe.adapters.aws import s3vectors_client
from imagepipe.adapters.vectors import S3VectorIndex
from imagepipe.domain.search import text_embedding
from imagepipe_local.http_api import LocalHttpApi
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.sources import LocalEventSources
from imagepipe_local.template import Template
from tests.integration.pipeline import encode, ingest, process, upload


@pytest.fixture
def local(aws: Template) -> Template:
    return Template.load(parameters={"LabelsProvider": "local", "EmbeddingProvider": "local"})


@pytest.fixture
def runner(local: Template) -> FunctionRunner:
    return FunctionRunner(local, extra_env={"CDN_BASE_URL": ""})


@pytest.fixture
def api(runner: FunctionRunner) -> LocalHttpApi:
    return LocalHttpApi(runner)


@pytest.fixture
def sources(runner: FunctionRunner) -> LocalEventSources:
    return LocalEventSources(runner)


@pytest.fixture
def index(local: Template) -> S3VectorIndex:
    return S3VectorIndex(local.arn("VectorIndex"), partial(s3vectors_client, local.names.region))


def red_photo() -> bytes:
    noise = PILImage.effect_noise((640, 480), 20).convert("RGB")
    red = PILImage.new("RGB", (640, 480), (200, 30, 30))
    return encode(PILImage.blend(red, noise, 0.15), quality=90)


def found(index: S3VectorIndex, words: str, session: str | None = None) -> list[str]:
    vector = text_embedding(words)
    assert vector is not None
    hits = index.query(vector, tenant="public", session_id=session, top_k=10)
    return [image_id for image_id, score in hits if score > 0]


def test_a_processed_image_is_tagged_and_indexed_with_its_tenant_and_session(
    api: LocalHttpApi, sources: LocalEventSources, index: S3VectorIndex
) -> None:
    # Given a red photo called "Holiday beach.jpg", uploaded in session s-1 and processed
    image = process(api, sources, red_photo(), name="Holiday beach.jpg", session="s-1")
    assert image["status"] == "completed", image["error"]

    # Then its record has the local provider's tags and its searchable text
    metadata = image["metadata"]
    assert metadata["tags"][:2] == ["red", "landscape"]
    assert {"holiday", "beach"} <= set(metadata["tags"])
    assert "holiday beach" in metadata["searchableText"]
    assert "searchMissing" not in metadata
    # And its vector is found by its words, within its session and tenant-wide, not elsewhere
    image_id = image["imageId"]
    assert found(index, "red") == [image_id]
    assert found(index, "beach holiday", "s-1") == [image_id]
    assert found(index, "red", "s-2") == []
    assert found(index, "green tree") == []


def test_deleting_an_image_takes_its_vector_out(
    api: LocalHttpApi, sources: LocalEventSources, index: S3VectorIndex
) -> None:
    # Given a processed, indexed image
    image_id = process(api, sources, red_photo(), name="red.jpg")["imageId"]
    assert index.get(image_id) is not None
    # When it is deleted
    assert api.request("DELETE", f"/images/{image_id}").status == 204
    # Then its vector is gone
    assert index.get(image_id) is None
    assert found(index, "red") == []


def test_a_metadata_job_for_an_image_deleted_meanwhile_leaves_no_vector(
    api: LocalHttpApi, sources: LocalEventSources, index: S3VectorIndex
) -> None:
    # Given an image ingested (its jobs queued), then deleted before the jobs run
    image_id = upload(api, red_photo(), name="red.jpg")["imageId"]
    ingest(sources, image_id)
    assert api.request("DELETE", f"/images/{image_id}").status == 204
    # When the jobs run
    sources.drain()
    # Then no vector was left behind
    assert index.get(image_id) is None


def blue_photo() -> bytes:
    noise = PILImage.effect_noise((480, 640), 20).convert("RGB")
    blue = PILImage.new("RGB", (480, 640), (30, 60, 200))
    return encode(PILImage.blend(blue, noise, 0.15), quality=90)


def search(api: LocalHttpApi, **params: str) -> tuple[int, dict[str, Any]]:
    response = api.request("GET", "/search", query=params)
    return response.status, response.json()


def test_search_finds_images_by_colour_and_filename_within_a_session(
    api: LocalHttpApi, sources: LocalEventSources
) -> None:
    # Given a red beach photo in session s-1, a blue one in s-1 and a red one in s-2
    beach = process(api, sources, red_photo(), name="beach day.jpg", session="s-1")["imageId"]
    sky = process(api, sources, blue_photo(), name="sky.jpg", session="s-1")["imageId"]
    other = process(api, sources, red_photo()[:-2] + b"\xff\xd9", name="x.jpg", session="s-2")
    assert other["status"] == "completed", other["error"]

    # When the tenant searches
    status, body = search(api, q="red beach")
    # Then the image sharing the most words comes first, with its score, filename and tags
    assert status == 200, body
    ranked = [r["imageId"] for r in body["results"]]
    assert ranked == [beach, other["imageId"]]
    first = body["results"][0]
    assert first["filename"] == "beach day.jpg"
    assert "red" in first["tags"]
    assert 0 < body["results"][1]["score"] < first["score"] <= 1
    assert first["thumbnail"]["url"]
    assert body["nextToken"] is None
    # And within a session only that session's images are found
    assert [r["imageId"] for r in search(api, q="red", sessionId="s-1")[1]["results"]] == [beach]
    assert [r["imageId"] for r in search(api, q="portrait", sessionId="s-1")[1]["results"]] == [sky]
    assert search(api, q="red", sessionId="s-3")[1]["results"] == []


def test_search_pages_with_a_token_of_its_own(
    api: LocalHttpApi, sources: LocalEventSources
) -> None:
    # Given three red photos
    for n in range(3):
        data = red_photo()[:-2] + bytes([n]) + b"\xff\xd9"
        assert process(api, sources, data, name=f"red-{n}.jpg")["status"] == "completed"
    # When they are searched two at a time
    status, first = search(api, q="red", limit="2")
    assert status == 200, first
    status, second = search(api, q="red", limit="2", nextToken=first["nextToken"])
    # Then the pages hold all three once, the last without a token
    assert status == 200, second
    ids = [r["imageId"] for r in first["results"] + second["results"]]
    assert len(ids) == len(set(ids)) == 3
    assert second["nextToken"] is None
    # And a token does not carry over to another query
    status, refused = search(api, q="landscape", nextToken=first["nextToken"])
    assert (status, refused["error"]["code"]) == (400, "invalid_next_token")


@pytest.mark.parametrize(
    ("query", "code"),
    [("", "invalid_query"), ("   ", "invalid_query"), ("the a", "invalid_query")],
)
def test_a_query_without_words_is_a_400(api: LocalHttpApi, query: str, code: str) -> None:
    status, body = search(api, q=query)
    assert (status, body["error"]["code"], body["error"]["field"]) == (400, code, "q")


def test_an_over_long_query_is_a_400(api: LocalHttpApi) -> None:
    status, body = search(api, q="red " * 60)
    assert status == 400
    assert (body["error"]["code"], body["error"]["field"]) == ("query_too_long", "q")


def test_similar_images_share_what_they_show(api: LocalHttpApi, sources: LocalEventSources) -> None:
    # Given two red beach photos and a blue one
    first = process(api, sources, red_photo(), name="beach.jpg")["imageId"]
    second = process(api, sources, red_photo()[:-2] + b"\x01\xff\xd9", name="beach 2.jpg")
    process(api, sources, blue_photo(), name="sky.jpg")
    # When the images like the first are asked for
    response = api.request("GET", f"/images/{first}/similar")
    # Then the other red beach comes first (a near-duplicate: the same pixels), never itself
    assert response.status == 200, response.body
    results = response.json()["results"]
    assert results[0]["imageId"] == second["imageId"]
    assert first not in [r["imageId"] for r in results]
    assert api.request("GET", "/images/unknown-id/similar").status == 404


def test_with_search_off_the_api_says_so(aws: Template) -> None:
    # Given a stack whose images are not indexed
    off = Template.load(parameters={"EmbeddingProvider": "none"})
    api = LocalHttpApi(FunctionRunner(off, extra_env={"CDN_BASE_URL": ""}))
    # When it is searched / Then a 404 says search is off
    response = api.request("GET", "/search", query={"q": "red"})
    assert (response.status, response.json()["error"]["code"]) == (404, "search_disabled")


def test_a_tenant_finds_only_its_own_images(api: LocalHttpApi, sources: LocalEventSources) -> None:
    # Given alice's red photo and bob's red photo, in sessions of the same name
    alice = process(
        api, sources, red_photo(), name="red.jpg", session="s-1", claims={"sub": "alice"}
    )
    bob = process(api, sources, red_photo(), name="red.jpg", session="s-1", claims={"sub": "bob"})

    # When each searches for "red", tenant-wide and in their session
    def ids(who: str, **params: str) -> list[str]:
        response = api.request("GET", "/search", query=params, jwt_claims={"sub": who})
        assert response.status == 200, response.body
        return [r["imageId"] for r in response.json()["results"]]

    # Then each finds their own, never the other's; and neither is found by the public tenant
    assert ids("alice", q="red") == [alice["imageId"]]
    assert ids("bob", q="red", sessionId="s-1") == [bob["imageId"]]
    assert ids("mallory", q="red") == []
    assert search(api, q="red") == (200, {"results": [], "nextToken": None})
    # And another tenant's image has no similar images for them: it is a 404
    other = api.request("GET", f"/images/{alice['imageId']}/similar", jwt_claims={"sub": "bob"})
    assert other.status == 404
