"""ImageUrls: where clients read an image's objects."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest

from imagepipe.domain.ports import ImageUrls

KEYS = [
    "images/2026/03/05/img-1/thumb.webp",
    "images/2026/03/05/img-1/original.jpg",
    "images/2026/03/05/img 2/été ß.jpg",
]


@pytest.mark.parametrize("key", KEYS)
def test_a_url_names_its_key_over_https(image_urls: ImageUrls, key: str) -> None:
    # Given a key, spaces and non-ASCII included / When its URL is made
    parts = urlsplit(image_urls.url(key))
    # Then it is an HTTPS URL whose path, percent-decoded, ends with the key
    assert parts.scheme == "https"
    assert unquote(parts.path).endswith(f"/{key}")
    # And the path itself is percent-encoded (a browser sends it as it is)
    assert " " not in parts.path
    assert parts.path.isascii()


def test_distinct_keys_get_distinct_urls(image_urls: ImageUrls) -> None:
    # Given several keys / When their URLs are made / Then no two are the same
    assert len({image_urls.url(key) for key in KEYS}) == len(KEYS)
