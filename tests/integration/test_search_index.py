"""Search's index on moto: the metadata job tags an image and puts its vector in S3 Vectors
with its tenant and sessions; deleting the image takes the vector out; a job for an image
deleted meanwhile leaves none. The template's local providers (LabelsProvider=local,
EmbeddingProvider=local), as the local stack runs them."""

from __future__ import annotations

from functools import partial

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
def sources(runner: FunctionRunner) -> LocalEventSources:
    return LocalEventSources(runner)


@pytest.fixture
def index(local: Template) -> S3VectorIndex:
    bucket, name = local.vector_index("VectorIndex")
    return S3VectorIndex(bucket, name, partial(s3vectors_client, local.names.region))


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
