"""The local stack's QueryVectors (imagepipe_local/vectors.py): S3 Vectors' filter language and
exact nearest neighbours. The S3 Vectors adapter's contract tests run it through moto."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from imagepipe_local.vectors import InvalidFilter, matches, nearest

META = {"tenant": "t", "sessions": ["s1", "s2"], "year": 2024, "public": True}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"tenant": "t"}, True),
        ({"tenant": {"$eq": "u"}}, False),
        ({"sessions": {"$eq": "s2"}}, True),  # a list holds the value
        ({"sessions": "s3"}, False),
        ({"tenant": {"$ne": "u"}}, True),
        ({"missing": {"$ne": "x"}}, True),
        ({"tenant": {"$in": ["u", "t"]}}, True),
        ({"tenant": {"$nin": ["u", "t"]}}, False),
        ({"missing": {"$nin": ["x"]}}, True),
        ({"year": {"$gte": 2024, "$lt": 2025}}, True),
        ({"year": {"$gt": 2024}}, False),
        ({"tenant": {"$gt": 1}}, False),  # a string is never greater than a number
        ({"missing": {"$exists": False}}, True),
        ({"public": {"$exists": True}}, True),
        ({"$and": [{"tenant": "t"}, {"sessions": "s1"}]}, True),
        ({"$and": [{"tenant": "t"}, {"sessions": "s9"}]}, False),
        ({"$or": [{"tenant": "u"}, {"sessions": "s1"}]}, True),
        ({"$or": [{"tenant": "u"}, {"missing": "x"}]}, False),
    ],
)
def test_filters(condition: dict[str, Any], expected: bool) -> None:
    assert matches(META, condition) is expected


@pytest.mark.parametrize(
    "condition",
    [
        {"$not": [{"tenant": "t"}]},
        {"tenant": {"$regex": "t"}},
        {"$and": []},
        {"tenant": {"$in": []}},
        {"year": {"$gt": "2000"}},
        ["tenant"],
    ],
)
def test_a_filter_the_service_does_not_know_is_refused(condition: Any) -> None:
    with pytest.raises(InvalidFilter):
        matches(META, condition)


@dataclass
class Stored:
    data: dict[str, list[float]]
    metadata: dict[str, Any] = field(default_factory=dict)


def test_nearest_filters_first_then_ranks_by_the_metric() -> None:
    stored = {
        "a": Stored({"float32": [1.0, 0.0]}, {"tenant": "t"}),
        "b": Stored({"float32": [0.6, 0.8]}, {"tenant": "t"}),
        "c": Stored({"float32": [1.0, 0.1]}, {"tenant": "u"}),
        "d": Stored({"float32": [-1.0, 0.0]}, {"tenant": "t"}),
    }
    cosine = nearest(stored, [1.0, 0.0], metric="cosine", top_k=2, condition={"tenant": "t"})
    assert [(key, round(gap, 6)) for key, gap, _ in cosine] == [("a", 0.0), ("b", 0.4)]
    euclid = nearest(stored, [0.0, 1.0], metric="euclidean", top_k=10, condition=None)
    assert [key for key, _, _ in euclid] == ["b", "c", "a", "d"]
