"""analyze(): EXIF, GPS, colours, perceptual hash and placeholder; phash() and hamming();
the ThumbHash encoder against the reference implementation's own output."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from imagepipe.domain.similarity import hamming
from imagepipe.imaging import Limits, analyze, load, phash, probe, variants
from imagepipe.imaging.thumbhash import rgba_to_thumbhash, thumbhash
from tests.imaging.helpers import camera_exif, display_p3_profile, encode, shrink

HEX_COLOUR = re.compile(r"#[0-9a-f]{6}")


def _analyze(data: bytes) -> dict[str, Any]:
    return analyze(data, load(data, Limits()), probe(data, Limits()))


def test_analyze_reads_a_real_camera_photo(wood_bytes: bytes) -> None:
    # Given the real photo with its camera's EXIF (Konica Minolta DiMAGE Z5)
    # When it is analysed
    meta = _analyze(wood_bytes)
    # Then the header facts and the camera facts are there, as JSON values
    assert json.loads(json.dumps(meta, allow_nan=False)) == meta
    assert {k: meta[k] for k in ("format", "mode", "width", "height", "hasAlpha", "frames")} == {
        "format": "jpeg",
        "mode": "RGB",
        "width": 2560,
        "height": 1920,
        "hasAlpha": False,
        "frames": 1,
    }
    assert meta["exif"] == {
        "make": "KONICA MINOLTA",
        "model": "DiMAGE Z5",
        "dateTimeOriginal": "2008-04-19T13:43:16",
        "exposureTime": "1/1000",
        "exposureTimeSeconds": 0.001,
        "fNumber": 3.2,
        "iso": 50,
        "focalLength": 10.28,
    }
    assert meta["gps"] is None
    assert meta["iccProfile"] is None
    assert len(meta["colors"]["dominant"]) == 5
    assert all(
        HEX_COLOUR.fullmatch(c) for c in [*meta["colors"]["dominant"], meta["colors"]["average"]]
    )
    assert re.fullmatch(r"[0-9a-f]{16}", meta["phash"])
    assert meta["placeholderType"] == "thumbhash"
    assert len(base64.b64decode(meta["placeholder"], validate=True)) >= 5


def test_analyze_of_a_photo_without_metadata(sunset_bytes: bytes) -> None:
    # Given the 12 MP photo, which has no EXIF
    # When it is analysed
    meta = _analyze(sunset_bytes)
    # Then exif is empty and gps absent, the rest is there
    assert meta["exif"] == {}
    assert meta["gps"] is None
    assert meta["width"] == 4272
    assert len(meta["colors"]["dominant"]) == 5


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (-33.856784, 151.215297),
        (40.689247, -74.044502),
        (-22.951916, -43.210487),
        (35.6586, 139.7454),
    ],
)
def test_gps_is_decimal_degrees_with_signs_from_the_refs(
    tiny_photo: Image.Image, lat: float, lon: float
) -> None:
    # Given a photo whose EXIF holds a GPS position as degrees/minutes/seconds and N/S, E/W
    data = encode(tiny_photo, "JPEG", exif=camera_exif(lat=lat, lon=lon))
    # When it is analysed
    meta = _analyze(data)
    # Then the position is in signed decimal degrees
    assert meta["gps"] == {"lat": pytest.approx(lat, abs=1e-6), "lon": pytest.approx(lon, abs=1e-6)}


def test_camera_exif_of_a_phone_photo(tiny_photo: Image.Image) -> None:
    # Given a photo with the EXIF a phone writes (lens, UTC offset)
    data = encode(tiny_photo, "JPEG", exif=camera_exif(lat=1.0, lon=2.0))
    # When it is analysed
    meta = _analyze(data)
    # Then every camera fact is there, the time with its offset
    assert meta["exif"] == {
        "make": "Imagepipe",
        "model": "TestCam 1",
        "lens": "TestLens 23mm F2",
        "dateTimeOriginal": "2024-06-01T18:30:05+02:00",
        "exposureTime": "1/250",
        "exposureTimeSeconds": 0.004,
        "fNumber": 2.8,
        "iso": 200,
        "focalLength": 23.6,
    }


@pytest.mark.parametrize(
    ("exposure", "shown"),
    [
        (IFDRational(1, 8000), "1/8000"),
        (IFDRational(10, 1600), "1/160"),
        (IFDRational(1, 3), "1/3"),
        (IFDRational(4, 10), "0.4"),
        (IFDRational(2, 1), "2"),
        (IFDRational(25, 10), "2.5"),
    ],
)
def test_exposure_times_read_as_photographers_write_them(
    tiny_photo: Image.Image, exposure: IFDRational, shown: str
) -> None:
    # Given a photo with this exposure time
    data = encode(tiny_photo, "JPEG", exif=camera_exif(exposure=exposure))
    # When it is analysed
    meta = _analyze(data)
    # Then it reads as a camera shows it, with the seconds beside it
    assert meta["exif"]["exposureTime"] == shown
    assert meta["exif"]["exposureTimeSeconds"] == pytest.approx(float(exposure))


def test_nonsense_exif_values_are_left_out(tiny_photo: Image.Image) -> None:
    # Given EXIF with zero f-number, a zero date, a 0/0 focal length and a blank model
    exif = Image.Exif()
    exif[0x0110] = "   \x00\x00"
    exif[0x8769] = {
        0x829D: IFDRational(0, 1),
        0x9003: "0000:00:00 00:00:00",
        0x920A: IFDRational(0, 0),
    }
    data = encode(tiny_photo, "JPEG", exif=exif)
    # When it is analysed
    meta = _analyze(data)
    # Then none of it is reported, and the result is still strict JSON
    assert meta["exif"] == {}
    json.dumps(meta, allow_nan=False)


def test_the_icc_profile_is_named(tiny_photo: Image.Image) -> None:
    # Given a Display P3 photo
    data = encode(tiny_photo, "PNG", icc_profile=display_p3_profile())
    # When it is analysed
    meta = _analyze(data)
    # Then its profile is named
    assert meta["iccProfile"] == "Display P3 (imagepipe test)"


def test_dominant_and_average_colours() -> None:
    # Given an image that is 70 % red and 30 % blue
    img = Image.new("RGB", (100, 100), (220, 20, 30))
    img.paste((10, 40, 200), (70, 0, 100, 100))
    data = encode(img, "PNG")
    # When it is analysed
    colours = _analyze(data)["colors"]
    # Then red dominates, blue follows, and the average is their 70/30 mix
    assert colours["dominant"][:2] == ["#dc141e", "#0a28c8"]
    assert colours["average"] == "#9d1a51"


def test_transparent_pixels_do_not_count_as_colours() -> None:
    # Given an image that is half opaque green, half transparent red
    img = Image.new("RGBA", (100, 100), (255, 0, 0, 0))
    img.paste((0, 200, 0, 255), (0, 0, 50, 100))
    data = encode(img, "PNG")
    # When it is analysed
    meta = _analyze(data)
    # Then only the green is seen
    assert meta["hasAlpha"] is True
    assert meta["colors"]["dominant"][0] == "#00c800"
    assert all(int(c[1:3], 16) < 0x40 for c in meta["colors"]["dominant"])
    assert meta["colors"]["average"] == "#00c800"


# --- perceptual hash ----------------------------------------------------------------------------


def test_phash_survives_resizing_and_recompression(
    sunset_full: Image.Image, sunset_for_variants: Image.Image, dragonfly_bytes: bytes
) -> None:
    # Given the 12 MP photo, copies of it resized and re-encoded, and an unrelated photo
    original = phash(sunset_full)
    copies = [
        load(encode(shrink(sunset_full, 1000), "JPEG", quality=60), Limits()),
        load(encode(shrink(sunset_full, 300), "WEBP", quality=50), Limits()),
        shrink(sunset_full, 64),
        *(load(r.data, Limits()) for r in variants(sunset_for_variants, avif_speed=9)[::3]),
    ]
    unrelated = load(dragonfly_bytes, Limits(), target_width=512)
    # When they are hashed
    # Then every copy is within 6 bits of the original, the unrelated photo far away
    for copy in copies:
        assert hamming(phash(copy), original) <= 6, copy.size
    assert hamming(phash(unrelated), original) >= 20


def test_phash_is_deterministic_and_64_bits(small_photo: Image.Image) -> None:
    # Given a photo
    # When it is hashed twice, and as RGBA
    first, second = phash(small_photo), phash(small_photo.copy())
    # Then the hashes are equal 16-digit lowercase hex strings
    assert first == second
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert phash(small_photo.convert("RGBA")) == first


def test_phash_of_flat_and_mirrored_images(small_photo: Image.Image) -> None:
    # Given a photo, its mirror image, and a flat grey image
    mirrored = small_photo.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    # When they are hashed
    # Then the mirror image is far from the photo, and a flat image hashes to 0
    assert hamming(phash(small_photo), phash(mirrored)) >= 20
    assert phash(Image.new("RGB", (50, 50), (128, 128, 128))) == "0" * 16


def test_hamming_counts_differing_bits() -> None:
    # Given hashes / When compared / Then the differing bits are counted
    assert hamming("0" * 16, "0" * 16) == 0
    assert hamming("0" * 16, "f" * 16) == 64
    assert hamming("8000000000000001", "0000000000000000") == 2
    with pytest.raises(ValueError, match="16 hex digits"):
        hamming("abc", "0" * 16)


# --- ThumbHash ----------------------------------------------------------------------------------


def _gradient(w: int, h: int, alpha: bool) -> bytes:
    out = bytearray()
    for y in range(h):
        for x in range(w):
            r = (x * 255) // max(1, w - 1)
            g = (y * 255) // max(1, h - 1)
            b = ((x + y) * 97) % 256
            a = (x * 255) // max(1, w - 1) if alpha else 255
            out += bytes((r, g, b, a))
    return bytes(out)


# Computed by the reference encoder, rgbaToThumbHash() of the npm package thumbhash 0.1.1, on
# the same pixels.
@pytest.mark.parametrize(
    ("w", "h", "alpha", "reference"),
    [
        (64, 43, False, "3/cJPZqAd4eAh3d4d3d3iHBwB/h4"),
        (30, 64, False, "3wcKOxqAcHeHd3h3cIAI+Hg="),
        (48, 48, True, "o1iGHQw3s5ewh3h4eLOwN/t0gId3iIeIeA=="),
    ],
)
def test_thumbhash_matches_the_reference_encoder(
    w: int, h: int, alpha: bool, reference: str
) -> None:
    # Given pixels the reference encoder was run on
    rgba = _gradient(w, h, alpha)
    # When they are encoded here
    encoded = base64.b64encode(rgba_to_thumbhash(w, h, rgba)).decode()
    # Then the bytes are the reference's
    assert encoded == reference


def test_thumbhash_of_a_real_photo_matches_the_reference(sunset_full: Image.Image) -> None:
    # Given the sunset at 100x67, as the reference demo scales it
    small = sunset_full.copy()
    small.thumbnail((100, 100))
    # When it is encoded here
    # Then the bytes are what the reference encoder gave for these pixels
    assert thumbhash(small) == "HAgWJYRoh3h/h3h1eEeHh1dwcgZH"


def test_thumbhash_keeps_alpha_and_aspect() -> None:
    # Given a landscape image that is fully transparent and a portrait one that is opaque
    clear = Image.new("RGBA", (20, 5), (0, 0, 0, 0))
    tall = Image.new("RGB", (30, 90), (200, 100, 50))
    # When they are encoded
    clear_hash = base64.b64decode(thumbhash(clear))
    tall_hash = base64.b64decode(thumbhash(tall))
    # Then the alpha flag (bit 23) and the landscape flag (bit 15 of the second header) say so
    assert clear_hash[2] & 0x80
    assert clear_hash[4] & 0x80
    assert not tall_hash[2] & 0x80
    assert not tall_hash[4] & 0x80


def test_thumbhash_refuses_large_input() -> None:
    # Given more pixels than the format is meant for
    # When encoded directly / Then it refuses, like the reference
    with pytest.raises(ValueError, match="doesn't fit"):
        rgba_to_thumbhash(101, 10, bytes(101 * 10 * 4))
