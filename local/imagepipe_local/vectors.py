"""QueryVectors for moto's S3 Vectors, which stores vectors (PutVectors, GetVectors,
DeleteVectors, ListVectors) but has no query: the local stack answers it from moto's own
index, as S3 Vectors documents it. Exact nearest neighbours by the index's distance metric
(cosine: 1 - cosine similarity; euclidean), the metadata filter evaluated first (S3 Vectors'
pre-filtering), `topK` best first, `distance` and `metadata` when asked for.

Filters: `{"key": value}` (equality), `$eq` (on a list-valued key: the list holds the value),
`$ne`, `$gt`, `$gte`, `$lt`, `$lte`, `$in`, `$nin`, `$exists`, `$and`, `$or`. An operator the
service does not know is a ValidationException, as on AWS.

`install()` adds the operation to moto (its URL route and its response method); the local
stack's moto process and the tests' decorator mode both call it before serving anything."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

# S3 Vectors' upper bound on topK.
MAX_TOP_K = 100


class InvalidFilter(ValueError):
    pass


def matches(metadata: Mapping[str, Any], condition: Mapping[str, Any]) -> bool:
    """Whether a vector's metadata satisfies a filter document."""
    if not isinstance(condition, Mapping):
        raise InvalidFilter(f"a filter is an object, not {condition!r}")
    for key, test in condition.items():
        if key == "$and":
            if not _non_empty_list(test) or not all(matches(metadata, t) for t in test):
                return False
        elif key == "$or":
            if not _non_empty_list(test) or not any(matches(metadata, t) for t in test):
                return False
        elif key.startswith("$"):
            raise InvalidFilter(f"unknown logical operator {key}")
        elif not _field_matches(metadata, key, test):
            return False
    return True


def _non_empty_list(value: Any) -> bool:
    if not isinstance(value, list) or not value:
        raise InvalidFilter("$and and $or take a non-empty list of filters")
    return True


def _field_matches(metadata: Mapping[str, Any], key: str, test: Any) -> bool:
    present = key in metadata
    value = metadata.get(key)
    if not isinstance(test, Mapping):
        test = {"$eq": test}
    for operator, operand in test.items():
        if operator == "$exists":
            if bool(operand) != present:
                return False
        elif not present:
            if operator not in ("$ne", "$nin"):
                return False
        elif operator == "$eq":
            if not _equal(value, operand):
                return False
        elif operator == "$ne":
            if _equal(value, operand):
                return False
        elif operator in ("$in", "$nin"):
            if not isinstance(operand, list) or not operand:
                raise InvalidFilter(f"{operator} takes a non-empty list")
            found = any(_equal(value, o) for o in operand)
            if found != (operator == "$in"):
                return False
        elif operator in ("$gt", "$gte", "$lt", "$lte"):
            if not _compare(value, operator, operand):
                return False
        else:
            raise InvalidFilter(f"unknown operator {operator}")
    return True


def _equal(value: Any, operand: Any) -> bool:
    if isinstance(value, list):
        return operand in value
    return bool(value == operand)


def _compare(value: Any, operator: str, operand: Any) -> bool:
    if not isinstance(operand, int | float) or isinstance(operand, bool):
        raise InvalidFilter(f"{operator} takes a number")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return {
        "$gt": value > operand,
        "$gte": value >= operand,
        "$lt": value < operand,
        "$lte": value <= operand,
    }[operator]


def distance(metric: str, a: Sequence[float], b: Sequence[float]) -> float:
    if metric == "euclidean":
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return 1.0 - (dot / norms if norms else 0.0)


def nearest(
    vectors: Mapping[str, Any],
    query: Sequence[float],
    *,
    metric: str,
    top_k: int,
    condition: Mapping[str, Any] | None,
) -> list[tuple[str, float, Any]]:
    """(key, distance, metadata) of the top_k nearest stored vectors that pass the filter."""
    scored = []
    for key, vector in vectors.items():
        metadata = vector.metadata or {}
        if condition is not None and not matches(metadata, condition):
            continue
        scored.append((distance(metric, query, vector.data["float32"]), key, metadata))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [(key, d, metadata) for d, key, metadata in scored[:top_k]]


def install() -> None:
    """Teach moto's S3 Vectors the QueryVectors operation (idempotent)."""
    from moto.core.responses import ActionResult
    from moto.s3vectors import urls
    from moto.s3vectors.exceptions import ValidationError
    from moto.s3vectors.responses import S3VectorsResponse

    urls.url_paths.setdefault("{0}/QueryVectors$", S3VectorsResponse.dispatch)
    if hasattr(S3VectorsResponse, "query_vectors"):
        return

    def query_vectors(self: S3VectorsResponse) -> ActionResult:
        bucket_name = self._get_param("vectorBucketName")
        index_arn = self._get_param("indexArn")
        index_name = self._get_param("indexName")
        self._validate_index_params(index_arn, index_name, bucket_name)
        top_k = int(self._get_param("topK"))
        if not 1 <= top_k <= MAX_TOP_K:
            raise ValidationError(f"topK must be between 1 and {MAX_TOP_K}")
        query = (self._get_param("queryVector") or {}).get("float32")
        index = self.s3vectors_backend.get_index(
            bucket_name, index_name=index_name, index_arn=index_arn
        )
        if not isinstance(query, list) or len(query) != index.dimension:
            raise ValidationError(f"queryVector must have {index.dimension} float32 values")
        try:
            found = nearest(
                index.vectors,
                query,
                metric=index.distance_metric,
                top_k=top_k,
                condition=self._get_param("filter"),
            )
        except InvalidFilter as error:
            raise ValidationError(f"Invalid filter: {error}") from error
        with_distance = self._get_bool_param("returnDistance", False)
        with_metadata = self._get_bool_param("returnMetadata", False)
        vectors = []
        for key, gap, metadata in found:
            item: dict[str, Any] = {"key": key}
            if with_distance:
                item["distance"] = gap
            if with_metadata:
                item["metadata"] = metadata
            vectors.append(item)
        return ActionResult({"vectors": vectors, "distanceMetric": index.distance_metric})

    S3VectorsResponse.query_vectors = query_vectors  # type: ignore[attr-defined]
