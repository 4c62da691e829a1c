"""The vector index of search: Amazon S3 Vectors (one vector per image, key = imageId, the
tenant and the image's sessions as filterable metadata)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3vectors import S3VectorsClient

# DeleteVectors and GetVectors take at most this many keys per call.
_BATCH = 500


class S3VectorIndex:
    def __init__(self, index_arn: str, client: Callable[[], S3VectorsClient]) -> None:
        self._index = index_arn  # every call names the index by its ARN (template.yaml's)
        self._client = client

    def put(
        self, image_id: str, vector: Sequence[float], *, tenant: str, sessions: Sequence[str]
    ) -> None:
        metadata: dict[str, Any] = {"tenant": tenant}
        if sessions:
            metadata["sessions"] = sorted(set(sessions))
        self._client().put_vectors(
            indexArn=self._index,
            vectors=[{"key": image_id, "data": {"float32": list(vector)}, "metadata": metadata}],
        )

    def delete(self, image_ids: Sequence[str]) -> None:
        """Idempotent: a key with no vector is no error."""
        for start in range(0, len(image_ids), _BATCH):
            self._client().delete_vectors(
                indexArn=self._index,
                keys=list(image_ids[start : start + _BATCH]),
            )

    def get(self, image_id: str) -> list[float] | None:
        found = self._client().get_vectors(indexArn=self._index, keys=[image_id], returnData=True)
        for vector in found.get("vectors", []):
            if vector["key"] == image_id and "data" in vector:
                return [float(v) for v in vector["data"]["float32"]]
        return None

    def query(
        self, vector: Sequence[float], *, tenant: str, session_id: str | None, top_k: int
    ) -> list[tuple[str, float]]:
        """(imageId, score) of the top_k nearest vectors of the tenant (and session), best
        first; score = 1 - cosine distance (the cosine similarity, 1 for the same direction)."""
        condition: dict[str, Any] = {"tenant": {"$eq": tenant}}
        if session_id is not None:
            condition = {"$and": [condition, {"sessions": {"$eq": session_id}}]}
        answer = self._client().query_vectors(
            indexArn=self._index,
            topK=top_k,
            queryVector={"float32": list(vector)},
            filter=condition,
            returnDistance=True,
        )
        return [(v["key"], 1.0 - float(v.get("distance", 1.0))) for v in answer["vectors"]]
