"""The metadata job's part in search, with in-memory ports and the real codec: tags and
searchable text on the record, the vector put with the tenant and the image's own sessions,
and what a provider could not give listed under `searchMissing` while the image completes."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from PIL import Image as PILImage

from imagepipe.adapters.embeddings import LocalEmbedder
from imagepipe.adapters.labels import LocalLabeler
from imagepipe.domain.jobs import JobDeps, run_metadata_job, run_reindex_job, run_variants_job
from imagepipe.domain.model import Enrichment, ImageStatus, Outcome, SessionLink
from imagepipe.domain.search import text_embedding
from tests.unit.fakes import InMemorySessionLinks, InMemoryVectorIndex
from tests.unit.test_ingest import STAGING, World


def red_png() -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (300, 200), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


class RefusedLabels:
    def enrich(
        self, preview: Callable[[], bytes], *, filename: str, metadata: Mapping[str, Any]
    ) -> Enrichment:
        preview()
        return Enrichment(missing=("labels",))


class NoVector(LocalEmbedder):
    def image(self, preview: Callable[[], bytes], text: str) -> list[float] | None:
        return None


def processed(world: World, deps: JobDeps) -> None:
    world.pending(red_png(), filename="Picnic Basket.png")
    world.storage.put(STAGING, red_png())
    world.ingest()
    run_variants_job("img-1", deps=deps)
    run_metadata_job("img-1", deps=deps)


def test_the_record_gets_tags_and_text_and_the_index_the_vector_with_its_sessions() -> None:
    # Given an image linked to two sessions of its tenant and one of another tenant's
    world, vectors, links = World(), InMemoryVectorIndex(), InMemorySessionLinks()
    for tenant, session in (("t", "s-1"), ("t", "s-2"), ("other", "s-9")):
        links.link(SessionLink(tenant, session, "img-1", world.clock()))
    deps = replace(
        world.job_deps(),
        labeler=LocalLabeler(),
        embedder=LocalEmbedder(),
        vectors=vectors,
        links=links,
    )
    # When it is processed
    processed(world, deps)
    # Then it completed with its tags and searchable text, nothing missing
    image = world.image()
    assert image.status is ImageStatus.COMPLETED
    assert image.metadata["tags"] == ["red", "landscape", "picnic", "basket"]
    assert image.metadata["searchableText"] == "red landscape picnic basket"
    assert "searchMissing" not in image.metadata
    # And its vector is the searchable text's, found in its tenant's sessions only
    assert vectors.get("img-1") == text_embedding("red landscape picnic basket")
    query = text_embedding("picnic")
    assert query is not None
    assert [i for i, _ in vectors.query(query, tenant="t", session_id="s-2", top_k=5)] == ["img-1"]
    assert vectors.query(query, tenant="t", session_id="s-9", top_k=5) == []


def test_what_the_providers_could_not_give_is_listed_and_the_image_completes() -> None:
    # Given a labeler that was refused and an embedder that could not answer
    world, vectors = World(), InMemoryVectorIndex()
    deps = replace(
        world.job_deps(),
        labeler=RefusedLabels(),
        embedder=NoVector(),
        vectors=vectors,
        links=InMemorySessionLinks(),
    )
    # When the image is processed
    processed(world, deps)
    # Then it completed, says what is missing, keeps the text it could build, and is not indexed
    image = world.image()
    assert image.status is ImageStatus.COMPLETED
    assert image.metadata["searchMissing"] == ["labels", "embedding"]
    assert image.metadata["tags"] == []
    assert image.metadata["searchableText"] == "red picnic basket"
    assert vectors.get("img-1") is None


def test_a_reindex_fills_what_was_missing_and_indexes_the_image() -> None:
    # Given an image completed while its providers failed
    world, vectors, links = World(), InMemoryVectorIndex(), InMemorySessionLinks()
    links.link(SessionLink("t", "s-1", "img-1", world.clock()))
    failing = replace(
        world.job_deps(), labeler=RefusedLabels(), embedder=NoVector(), vectors=vectors, links=links
    )
    processed(world, failing)
    version = world.image().version
    # When it is reindexed with providers that answer
    working = replace(failing, labeler=LocalLabeler(), embedder=LocalEmbedder())
    assert run_reindex_job("img-1", deps=working) is Outcome.DONE
    # Then its tags and text are there, nothing is missing, and it is found in its session
    image = world.image()
    assert image.status is ImageStatus.COMPLETED
    assert image.version != version
    assert image.metadata["tags"] == ["red", "landscape", "picnic", "basket"]
    assert "searchMissing" not in image.metadata
    assert image.metadata["format"] == "png"  # the rest of the analysis is kept
    query = text_embedding("basket")
    assert query is not None
    assert [i for i, _ in vectors.query(query, tenant="t", session_id="s-1", top_k=5)] == ["img-1"]


def test_a_reindex_leaves_unfinished_and_deleted_images_alone() -> None:
    # Given an image still processing
    world, vectors = World(), InMemoryVectorIndex()
    deps = replace(
        world.job_deps(),
        labeler=LocalLabeler(),
        embedder=LocalEmbedder(),
        vectors=vectors,
        links=InMemorySessionLinks(),
    )
    world.pending(red_png(), filename="x.png")
    world.storage.put(STAGING, red_png())
    world.ingest()
    # When it is reindexed / Then nothing happens to it
    before = world.image()
    assert run_reindex_job("img-1", deps=deps) is Outcome.SKIPPED
    assert world.image() == before
    assert vectors.get("img-1") is None
    # And an image that is gone has its vector taken out
    vectors.put("img-404", [1.0] * 4, tenant="t", sessions=[])
    assert run_reindex_job("img-404", deps=deps) is Outcome.ORPHAN
    assert vectors.get("img-404") is None
