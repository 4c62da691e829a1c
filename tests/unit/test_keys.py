"""The S3 key layout is part of the design contract: operators, lifecycle rules and the Ingest
trigger rely on these exact spellings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from imagepipe.domain import keys

DATE = "2026/03/05"


def test_key_date_is_the_zero_padded_utc_date() -> None:
    # Given a UTC moment early in a month
    moment = datetime(2026, 3, 5, 23, 59, 59, tzinfo=UTC)

    # When its key date is taken
    date = keys.key_date(moment)

    # Then it is YYYY/MM/DD with zero padding, and the time of day plays no part
    assert date == "2026/03/05"


def test_staging_key_is_under_the_only_prefix_that_triggers_ingest() -> None:
    # Given an image id / When its staging key is made
    key = keys.staging_key("abc123")

    # Then the key is uploads/<id>, under the one prefix S3 notifies Ingest about
    assert key == "uploads/abc123"
    assert key.startswith(keys.STAGING_PREFIX)


def test_original_key_layout() -> None:
    # Given an image id, its key date and a sniffed extension / When its original's key is made
    key = keys.original_key(DATE, "abc123", "jpg")

    # Then the key is dated, under original/, named by the id with that extension
    assert key == "images/2026/03/05/original/abc123.jpg"


def test_thumbnail_key_layout() -> None:
    # Given an image id and its key date / When its thumbnail's key is made
    key = keys.thumbnail_key(DATE, "abc123")

    # Then the thumbnail is a WebP beside the variants
    assert key == "images/2026/03/05/variants/abc123_thumbnail.webp"


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        ("small", "webp", "images/2026/03/05/variants/abc123_small.webp"),
        ("medium", "avif", "images/2026/03/05/variants/abc123_medium.avif"),
        ("large", "webp", "images/2026/03/05/variants/abc123_large.webp"),
    ],
)
def test_variant_key_layout(name: str, fmt: str, expected: str) -> None:
    # Given an image id, a variant's name and format / When the variant's key is made
    key = keys.variant_key(DATE, "abc123", name, fmt)

    # Then it is <id>_<name>.<format> under the dated variants/ folder
    assert key == expected


def test_original_prefix_covers_the_original_whatever_its_extension() -> None:
    # Given the prefix used to find an original whose extension is not recorded yet
    prefix = keys.original_prefix(DATE, "abc123")

    # When the original's key is made with each extension that sniffing can give
    # Then every sniffed extension falls under it
    for ext in ("jpg", "png", "webp", "gif", "avif", "heic"):
        assert keys.original_key(DATE, "abc123", ext).startswith(prefix)


def test_original_prefix_does_not_cover_an_id_that_merely_starts_the_same() -> None:
    # Given two images whose ids share a beginning
    prefix = keys.original_prefix(DATE, "abc")

    # When the original key of the longer id, abcd, is made
    # Then the prefix of the shorter id does not reach the other's original
    assert not keys.original_key(DATE, "abcd", "jpg").startswith(prefix)


def test_variants_prefix_covers_the_thumbnail_and_every_variant() -> None:
    # Given the variants prefix of an image
    prefix = keys.variants_prefix(DATE, "abc123")

    # When the keys of its thumbnail, of one of its variants and of a longer id's variant are made
    # Then the image's own keys fall under the prefix, the longer id's does not
    assert keys.thumbnail_key(DATE, "abc123").startswith(prefix)
    assert keys.variant_key(DATE, "abc123", "large", "avif").startswith(prefix)
    assert not keys.variant_key(DATE, "abc1234", "large", "avif").startswith(prefix)


def test_key_date_converts_to_utc_first() -> None:
    from datetime import timedelta, timezone

    # Given a moment in a zone two hours ahead of UTC, where the new year has just begun
    # 01:00 at UTC+2 on New Year's Day is still the last day of the year in UTC
    moment = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    # When its key date is taken / Then it is the UTC date, in the year before
    assert keys.key_date(moment) == "2025/12/31"


def test_phash_bands_cover_64_bits_with_one_more_band_than_the_max_distance() -> None:
    from imagepipe.domain.similarity import BAND_WIDTHS, MAX_DISTANCE, bands, hamming

    # Given the band widths of the similarity index
    # Then they add up to the 64 bits of a hash, in one band more than the largest distance
    assert sum(BAND_WIDTHS) == 64
    assert len(BAND_WIDTHS) == MAX_DISTANCE + 1
    # Six flipped bits spread over six bands leave exactly the seventh equal: the index's
    # guarantee holds in its worst case, for every band
    # When, for each band in turn, a hash gets one bit flipped in every other band
    base = "f0e1d2c3b4a59687"
    offsets = [sum(BAND_WIDTHS[:i]) for i in range(len(BAND_WIDTHS))]
    for untouched in range(len(BAND_WIDTHS)):
        mask = sum(1 << (63 - offsets[i]) for i in range(len(BAND_WIDTHS)) if i != untouched)
        flipped = f"{int(base, 16) ^ mask:016x}"
        # Then it is 6 bits away from the original and shares exactly the untouched band
        assert hamming(base, flipped) == 6
        shared = set(bands(base)) & set(bands(flipped))
        assert [index for index, _ in shared] == [untouched]


@pytest.mark.parametrize(
    ("key", "image_id"),
    [
        (keys.staging_key("abc123"), "abc123"),
        (keys.original_key("2026/03/05", "abc123", "jpg"), "abc123"),
        (keys.thumbnail_key("2026/03/05", "abc123"), "abc123"),
        (keys.variant_key("2026/03/05", "abc123", "large", "avif"), "abc123"),
        ("images/2026/03/05/variants/abc123_large.webp.tmp", "abc123"),
        ("uploads/", None),
        ("uploads/a/b", None),
        ("images/2026/03/05/other/abc123.jpg", None),
        ("notes.txt", None),
    ],
)
def test_every_key_of_the_layout_names_its_image(key: str, image_id: str | None) -> None:
    # Given a key / When its image is asked for / Then it is the id the layout put there
    assert keys.image_id_of(key) == image_id
