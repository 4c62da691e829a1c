"""moto's process keeps parsed JSONPath expressions (imagepipe_local.s3_front
.cached_jsonpath_parsers): EventBridge's input paths give the same values from the cache."""

from __future__ import annotations

import jsonpath_ng.ext
import pytest

from imagepipe_local.s3_front import cached_jsonpath_parsers

EVENT = {"source": "imagepipe", "detail": {"imageId": "01J", "sizes": [640, 1024]}}


def test_cached_paths_find_what_fresh_ones_find(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = getattr(jsonpath_ng.ext, "parse")  # noqa: B009
    paths = ["$.source", "$.detail", "$.detail.sizes[1]", "$.missing"]
    expected = [[m.value for m in fresh(p).find(EVENT)] for p in paths]
    monkeypatch.setattr(jsonpath_ng.ext, "parse", fresh)
    assert cached_jsonpath_parsers()
    cached = getattr(jsonpath_ng.ext, "parse")  # noqa: B009
    for _ in range(2):  # a miss, then a hit
        assert [[m.value for m in cached(p).find(EVENT)] for p in paths] == expected
    assert cached.cache_info().hits == len(paths)
