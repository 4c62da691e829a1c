"""thumbnail() and variants(): sizes, formats, quality, alpha, and no metadata in any output."""

from __future__ import annotations

import io
import math
import struct

import pytest
from PIL import Image, ImageChops, ImageStat

from imagepipe.domain.model import Rendered
from imagepipe.imaging import (
    VARIANT_SPECS,
    Limits,
    load,
    preview_jpeg,
    probe,
    render,
    sniff,
    thumbnail,
    variants,
)
from tests.imaging.helpers import camera_exif, decode, display_p3_profile, encode, mad, shrink

# The GPS position written into the sources below, and a marker put into their XMP.
LAT, LON = -33.856784, 151.215297
XMP_MARKER = b"imagepipe-private-xmp-marker"


@pytest.fixture(scope="module")
def sunset_variants(sunset_for_variants: Image.Image) -> list[Rendered]:
    return variants(sunset_for_variants)


def test_variants_of_a_12_mp_photo(
    sunset_variants: list[Rendered], sunset_full: Image.Image
) -> None:
    # Given the 12 MP photo as the variants job decodes it, and its variants (fixture)
    # When each output is decoded
    # Then there are six, small/medium/large x WebP/AVIF, 640/1024/1920 wide, in the aspect
    # ratio of the photo, each in the format it claims (sniffed from its own bytes)
    assert [(r.name, r.format) for r in sunset_variants] == [
        ("small", "webp"),
        ("small", "avif"),
        ("medium", "webp"),
        ("medium", "avif"),
        ("large", "webp"),
        ("large", "avif"),
    ]
    for rendered in sunset_variants:
        width = {"small": 640, "medium": 1024, "large": 1920}[rendered.name]
        assert (rendered.width, rendered.height) == (width, round(2848 * width / 4272))
        assert sniff(rendered.data) == rendered.format
        assert rendered.content_type == f"image/{rendered.format}"
        img = decode(rendered.data)
        assert img.format == rendered.format.upper()
        assert (img.mode, img.size) == ("RGB", (rendered.width, rendered.height))
        # Plausible sizes for a detailed photo: 0.2-3 bits per pixel (lossless is ~12).
        bits_per_pixel = 8 * len(rendered.data) / (rendered.width * rendered.height)
        assert 0.2 < bits_per_pixel < 3, rendered
        # Close to a plain LANCZOS resize of the full-size original (no draft, no cascade):
        # the draft and the cascade add almost nothing to what the encoder itself loses.
        reference = shrink(sunset_full, rendered.width)
        spec = next(spec for spec in VARIANT_SPECS if spec.name == rendered.name)
        quality = spec.quality(rendered.format)
        fmt = rendered.format.upper()
        params = {"speed": 8} if fmt == "AVIF" else {}
        encoder_only = mad(decode(encode(reference, fmt, quality=quality, **params)), reference)
        assert mad(img, reference) < min(3.0, encoder_only + 0.25), rendered


def test_variant_quality_follows_the_spec(small_photo: Image.Image) -> None:
    # Given a real photo exactly 640 px wide: all three variants are the very same pixels
    # (never enlarged), so only their quality can make their sizes differ
    out = variants(small_photo, avif_speed=9)
    # When the sizes of small, medium and large are compared, format by format
    # Then higher quality costs more bytes, in both formats
    for fmt in ("webp", "avif"):
        sizes = [len(r.data) for r in out if r.format == fmt]
        assert [r.width for r in out if r.format == fmt] == [640, 640, 640]
        assert sizes[0] < sizes[1] < sizes[2], (fmt, sizes)
    assert [spec.webp_quality for spec in VARIANT_SPECS] == [80, 85, 90]
    assert [spec.avif_quality for spec in VARIANT_SPECS] == [66, 69, 78]


def test_each_avif_is_smaller_than_its_webp_sibling(sunset_variants: list[Rendered]) -> None:
    # Given the 12 MP sunset's variants (AVIF qualities tuned against WebP's, see VariantSpec)
    by_key = {(r.name, r.format): len(r.data) for r in sunset_variants}
    # Then no AVIF is larger than the WebP of the same size: before the tuning, the same
    # quality numbers made AVIFs 1.7x their WebPs on this photo
    for spec in VARIANT_SPECS:
        assert by_key[(spec.name, "avif")] < 1.15 * by_key[(spec.name, "webp")], spec


def test_an_opaque_alpha_channel_is_dropped(small_photo: Image.Image) -> None:
    # Given a real photo with an alpha channel that is opaque everywhere (as exports carry)
    opaque = small_photo.convert("RGBA")
    # When its variants and thumbnail are made
    out = [*variants(opaque, avif_speed=9), thumbnail(opaque)]
    # Then no output carries alpha, and they are the bytes of the same photo without it
    plain = [*variants(small_photo, avif_speed=9), thumbnail(small_photo)]
    for rendered, expected in zip(out, plain, strict=True):
        assert decode(rendered.data).mode == "RGB", rendered.name
        assert rendered.data == expected.data, rendered.name


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        (500, [500, 500, 500]),
        (800, [640, 800, 800]),
        (1500, [640, 1024, 1500]),
        (1920, [640, 1024, 1920]),
    ],
)
def test_variants_are_never_enlarged(
    small_photo: Image.Image, sunset_full: Image.Image, width: int, expected: list[int]
) -> None:
    # Given a real photo narrower than some variant sizes
    img = shrink(sunset_full, width)
    # When its variants are made
    out = variants(img, avif_speed=9)
    # Then a variant is never wider than the image: the narrower ones keep its own width
    assert [r.width for r in out] == [w for w in expected for _ in range(2)]
    for rendered in out:
        assert rendered.height == round(img.height * rendered.width / img.width)
        decoded = decode(rendered.data)
        assert decoded.size == (rendered.width, rendered.height)
        if rendered.width == width:
            assert mad(decoded, img) < 3  # not resized: only the encoding differs


def test_a_portrait_photo_keeps_its_aspect_ratio(small_photo: Image.Image) -> None:
    # Given a tall image (a rotated photo, 1200 px wide)
    tall = small_photo.transpose(Image.Transpose.ROTATE_90).resize((1200, 1800))
    # When its variants are made
    out = variants(tall, avif_speed=9)
    # Then widths are capped, heights follow
    assert [(r.width, r.height) for r in out[::2]] == [(640, 960), (1024, 1536), (1200, 1800)]


def test_alpha_is_kept_in_both_formats(sunset_alpha_bytes: bytes) -> None:
    # Given the 12 MP PNG with an alpha gradient, decoded
    img = load(sunset_alpha_bytes, Limits())
    # When its variants and thumbnail are made
    out = [*variants(img, avif_speed=9), thumbnail(img)]
    # Then every output is RGBA with the source's alpha: opaque top, transparent bottom
    for rendered in out:
        decoded = decode(rendered.data)
        assert decoded.mode == "RGBA", rendered.name
        alpha = decoded.getchannel("A")
        if rendered.name != "thumbnail":
            expected = img.getchannel("A").resize(decoded.size, Image.Resampling.LANCZOS)
            assert mad(alpha, expected, "L") < 2, rendered
        assert alpha.getpixel((5, 0)) >= 250  # type: ignore[operator]
        assert alpha.getpixel((5, decoded.height - 1)) <= 5  # type: ignore[operator]


def test_alpha_variants_keep_the_colour_of_faint_pixels(sunset_alpha_bytes: bytes) -> None:
    # Given the 12 MP PNG whose alpha falls through every level, decoded
    img = load(sunset_alpha_bytes, Limits())
    # When its three sizes are resized for the encoders (the cascade: large from the image,
    # medium from large, small from medium)
    resized = {name: image for name, fmt, image, _ in render._cascade(img) if fmt == "webp"}
    # Then each is as close to a direct LANCZOS of the original as a cascade of plain RGB is,
    # on premultiplied pixels (what a composite shows): >= 54 dB. Resizing RGBA three times
    # in a row (premultiply, resize, divide, in 8 bits) left the small one at 52.3 dB.
    for spec in VARIANT_SPECS:
        image = resized[spec.name]
        assert image.mode == "RGBA"
        direct = img.resize(image.size, Image.Resampling.LANCZOS)
        diff = ImageChops.difference(image.convert("RGBa"), direct.convert("RGBa"))
        mse = sum(rms**2 for rms in ImageStat.Stat(diff).rms) / 4
        assert 10 * math.log10(255**2 / max(mse, 1e-9)) >= 54, spec.name


def test_the_thumbnail_is_a_150px_webp_cover_crop(sunset_full: Image.Image) -> None:
    # Given a real 3:2 photo with a marker band in its centre third
    img = shrink(sunset_full, 900)
    img.paste((0, 0, 255), (300, 0, 600, img.height))
    # When its thumbnail is made
    thumb = thumbnail(img)
    # Then it is 150x150 WebP, cut from the centre: the marker band fills its middle
    decoded = decode(thumb.data)
    assert (thumb.name, thumb.format, thumb.content_type) == ("thumbnail", "webp", "image/webp")
    assert (thumb.width, thumb.height) == decoded.size == (150, 150)
    assert sniff(thumb.data) == "webp"
    assert decoded.mode == "RGB"
    assert decoded.getpixel((75, 75)) == pytest.approx((0, 0, 255), abs=12)
    assert decoded.getpixel((5, 75)) != pytest.approx((0, 0, 255), abs=12)
    assert len(thumb.data) < 15_000


def test_a_tiny_image_still_gets_a_150px_thumbnail(tiny_photo: Image.Image) -> None:
    # Given a 96x64 photo
    # When its thumbnail is made
    thumb = thumbnail(tiny_photo)
    # Then it is still 150x150: every listing tile has the same size
    assert decode(thumb.data).size == (150, 150)


def test_workers_change_nothing_but_the_time(small_photo: Image.Image) -> None:
    # Given a photo
    img = shrink(small_photo, 600)
    # When its variants are made in one thread and in a pool of three
    one = variants(img, workers=1)
    three = variants(img, workers=3)
    # Then the outputs are the same images
    assert [(r.name, r.format, r.width) for r in one] == [
        (r.name, r.format, r.width) for r in three
    ]
    for a, b in zip(one, three, strict=True):
        # AVIF's output depends slightly on its thread count (one per pool worker).
        assert mad(decode(a.data), decode(b.data)) < 1.0


def _private_source(photo: Image.Image, fmt: str) -> bytes:
    exif = camera_exif(lat=LAT, lon=LON)
    xmp = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + XMP_MARKER + b"</x:xmpmeta>"
    if fmt == "JPEG":
        return encode(photo, fmt, quality=92, exif=exif, xmp=xmp, icc_profile=display_p3_profile())
    if fmt in ("WEBP", "AVIF"):
        return encode(photo, fmt, quality=92, exif=exif, xmp=xmp)
    if fmt == "PNG":
        return encode(photo, fmt, exif=exif)
    return encode(photo, "HEIF", quality=92, exif=exif.tobytes(), xmp=xmp)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "AVIF", "PNG", "HEIF"])
def test_no_output_carries_exif_gps_xmp_or_icc(small_photo: Image.Image, fmt: str) -> None:
    # Given a real photo with EXIF (camera, GPS), XMP and an ICC profile
    data = _private_source(small_photo, fmt)
    with Image.open(io.BytesIO(data)) as src:
        gps = src.getexif().get_ifd(0x8825)
        assert gps, "the source must carry GPS for this test to mean anything"
    # When it goes through the pipeline
    img = load(data, Limits())
    outputs = [thumbnail(img), *variants(img, avif_speed=9)]
    # Then no output has any of it: neither as Pillow reads it, nor anywhere in the bytes
    gps_bytes = [
        struct.pack(order + "II", 151, 1) for order in (">", "<")
    ]  # the longitude's degrees
    for rendered in outputs:
        decoded = Image.open(io.BytesIO(rendered.data))
        assert len(decoded.getexif()) == 0, rendered.name
        for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile"):
            assert key not in decoded.info, (rendered.name, key)
        for needle in (
            *(b"Exif", b"EXIF", b"GPS", b"Imagepipe", b"TestCam"),  # EXIF (AVIF item, WebP chunk)
            *(XMP_MARKER, b"xmpmeta", b"XMP ", b"rdf+xml"),  # XMP
            *(b"ICCP", b"colrprof", b"ICC_PROFILE", b"iCCP"),  # ICC
            *gps_bytes,
        ):
            assert needle not in rendered.data, (rendered.name, needle)


def test_avif_outputs_declare_srgb(sunset_variants: list[Rendered]) -> None:
    # Given the AVIF variants (no ICC profile embedded)
    for rendered in sunset_variants:
        if rendered.format != "avif":
            continue
        # When their colour box is read
        at = rendered.data.find(b"colrnclx")
        assert at > 0, rendered
        primaries, transfer, matrix = struct.unpack(">HHH", rendered.data[at + 8 : at + 14])
        # Then it says sRGB: BT.709 primaries, sRGB transfer, full range
        assert (primaries, transfer) == (1, 13)
        assert rendered.data[at + 14] & 0x80
        assert b"prof" not in rendered.data[: rendered.data.find(b"mdat")]
        assert matrix in (1, 5, 6)


def test_a_polyglot_payload_reaches_no_output(small_photo: Image.Image) -> None:
    # Given a JPEG with HTML appended after its end
    payload = b"<html><body><script>alert(document.cookie)</script></body></html>"
    data = encode(small_photo, "JPEG", quality=90) + payload
    assert probe(data, Limits()).format == "jpeg"
    # When it goes through the pipeline
    img = load(data, Limits())
    outputs = [thumbnail(img), *variants(img, avif_speed=9)]
    # Then no output contains the payload, or any part of it
    for rendered in outputs:
        for needle in (b"<script", b"<html", b"alert(", b"cookie"):
            assert needle not in rendered.data, (rendered.name, needle)


def test_the_preview_is_a_plain_jpeg_without_metadata(sunset_alpha_bytes: bytes) -> None:
    # Given the 12 MP photo with alpha, decoded for a 1024 px preview
    img = load(sunset_alpha_bytes, Limits(), target_width=1024)
    # When its preview is made
    data = preview_jpeg(img, 1024)
    # Then it is a 1024 px RGB JPEG, transparency flattened onto white, with no metadata
    decoded = decode(data)
    assert sniff(data) == "jpeg"
    assert (decoded.mode, decoded.size) == ("RGB", (1024, 683))
    assert decoded.getpixel((512, 682)) == pytest.approx((255, 255, 255), abs=3)
    assert len(decoded.getexif()) == 0
    assert "icc_profile" not in decoded.info
    assert b"Exif" not in data


def test_the_preview_is_never_enlarged(tiny_photo: Image.Image) -> None:
    # Given a 96 px wide photo / When a 1024 px preview is asked for
    # Then it stays 96 px wide
    assert decode(preview_jpeg(tiny_photo, 1024)).size == tiny_photo.size


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        # (source size) -> sizes of small, medium, large
        ((600, 20000), [(77, 2560), (123, 4096), (230, 7680)]),
        ((20000, 600), [(640, 19), (1024, 31), (1920, 58)]),
        ((1, 16384), [(1, 2560), (1, 4096), (1, 7680)]),
        ((3000, 4000), [(640, 853), (1024, 1365), (1920, 2560)]),  # a portrait: width only
        ((300, 200), [(300, 200)] * 3),  # never enlarged
    ],
    ids=["tall-scroll", "wide-panorama", "one-pixel-column", "portrait", "small"],
)
def test_variants_of_any_aspect_ratio_fit_every_encoder(
    size: tuple[int, int], expected: list[tuple[int, int]]
) -> None:
    # Given a flat image of that size (the encoders' limits do not depend on the pixels)
    image = Image.new("RGB", size, (120, 160, 200))
    # When its variants are made (really encoded: WebP refuses more than 16383 px a side)
    rendered = variants(image)
    # Then each size is bounded on both sides, as expected, and each output decodes to it
    assert [(r.width, r.height) for r in rendered if r.format == "webp"] == expected
    for output in rendered:
        assert decode(output.data).size == (output.width, output.height)


def test_an_image_no_encoder_can_hold_fails_as_an_image_problem() -> None:
    # Given pixels beyond WebP's 16383 px per side, handed straight to the encoder
    from imagepipe.domain.errors import ErrorCode, InvalidImage
    from imagepipe.imaging.render import encode_output

    too_tall = Image.new("RGB", (1, 16384))
    # When it is encoded / Then the error is the image's (encode_failed), not a crash to retry
    with pytest.raises(InvalidImage) as refused:
        encode_output("large", "webp", too_tall, 80, 9)
    assert refused.value.code is ErrorCode.ENCODE_FAILED
    assert "16383" in refused.value.message
