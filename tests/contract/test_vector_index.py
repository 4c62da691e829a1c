"""The search index's contract, on the in-memory fake and on S3 Vectors in moto (its query
answered by the local stack's QueryVectors, imagepipe_local/vectors.py)."""

from __future__ import annotations

from imagepipe.domain.ports import VectorIndex
from imagepipe.domain.search import EMBEDDING_DIMENSION, text_embedding


def embedding(text: str) -> list[float]:
    vector = text_embedding(text)
    assert vector is not None
    return vector


def test_a_query_ranks_the_tenants_vectors_by_cosine_similarity(vectors: VectorIndex) -> None:
    # Given three images of one tenant and one of another, all in one session
    vectors.put("red-car", embedding("red car street"), tenant="t", sessions=["s"])
    vectors.put("red-boat", embedding("red boat sea harbour"), tenant="t", sessions=["s"])
    vectors.put("blue-sky", embedding("blue sky clouds"), tenant="t", sessions=["s"])
    vectors.put("their-red", embedding("red car"), tenant="other", sessions=["s"])

    # When the tenant looks for "red car"
    found = vectors.query(embedding("red car"), tenant="t", session_id=None, top_k=10)

    # Then its own images come back best first with cosine scores, the other tenant's never
    assert [image_id for image_id, _ in found] == ["red-car", "red-boat", "blue-sky"]
    scores = [score for _, score in found]
    assert abs(scores[0] - 2 / (2**0.5 * 3**0.5)) < 1e-6  # 2 shared words, of 2 and of 3
    assert abs(scores[1] - 1 / (2**0.5 * 4**0.5)) < 1e-6
    assert abs(scores[2]) < 1e-6


def test_a_query_within_a_session_sees_only_that_sessions_images(vectors: VectorIndex) -> None:
    # Given one image in two sessions and one in a third
    vectors.put("shared", embedding("red"), tenant="t", sessions=["s1", "s2"])
    vectors.put("alone", embedding("red"), tenant="t", sessions=["s3"])

    # When each session is searched
    def ids(session: str) -> list[str]:
        found = vectors.query(embedding("red"), tenant="t", session_id=session, top_k=10)
        return [image_id for image_id, _ in found]

    # Then each sees its own
    assert (ids("s1"), ids("s2"), ids("s3"), ids("s4")) == (["shared"], ["shared"], ["alone"], [])


def test_top_k_bounds_the_answer(vectors: VectorIndex) -> None:
    for n in range(5):
        vectors.put(f"img-{n}", embedding(f"red word{n}"), tenant="t", sessions=["s"])
    found = vectors.query(embedding("red"), tenant="t", session_id="s", top_k=3)
    assert len(found) == 3


def test_put_replaces_and_delete_forgets(vectors: VectorIndex) -> None:
    # Given an image indexed, then indexed again with other words
    vectors.put("img-1", embedding("red car"), tenant="t", sessions=["s"])
    vectors.put("img-1", embedding("green tree"), tenant="t", sessions=["s"])
    assert vectors.get("img-1") == embedding("green tree")
    (only,) = vectors.query(embedding("green"), tenant="t", session_id=None, top_k=10)
    assert only[0] == "img-1"
    assert only[1] > 0.5

    # When it is deleted (twice: deleting is idempotent), with an id never indexed
    vectors.delete(["img-1", "never-indexed"])
    vectors.delete(["img-1"])

    # Then nothing finds it
    assert vectors.get("img-1") is None
    assert vectors.query(embedding("green"), tenant="t", session_id=None, top_k=10) == []


def test_vectors_have_the_indexs_dimension(vectors: VectorIndex) -> None:
    vectors.put("img-1", embedding("red"), tenant="t", sessions=[])
    stored = vectors.get("img-1")
    assert stored is not None
    assert len(stored) == EMBEDDING_DIMENSION
