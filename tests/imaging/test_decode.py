"""probe() and load(): limits before decoding, orientation, colour, modes, broken files."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image, ImageCms, ImageFile, ImageOps

from imagepipe.imaging import ImagingError, Limits, Probe, load, probe
from tests.imaging.helpers import (
    camera_exif,
    decode,
    display_p3_profile,
    encode,
    mad,
    p3_to_srgb,
    png_header_only,
    run_python,
)

# --- real photos --------------------------------------------------------------------------------


@pytest.fixture
def pixel_decodes(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every image whose pixels Pillow decodes from now on (not timed: counted)."""
    decoded: list[object] = []
    real_load = ImageFile.ImageFile.load

    def watched_load(self: ImageFile.ImageFile) -> object:
        decoded.append(self)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", watched_load)
    return decoded


def test_probe_reads_a_12_mp_jpeg_from_its_header(
    sunset_bytes: bytes, pixel_decodes: list[object]
) -> None:
    # Given the real 12 MP photo
    # When it is probed
    info = probe(sunset_bytes, Limits())
    # Then the header says everything, without decoding 12 MP
    assert info == Probe(
        format="jpeg",
        ext="jpg",
        content_type="image/jpeg",
        width=4272,
        height=2848,
        frames=1,
        mode="RGB",
        has_alpha=False,
    )
    assert pixel_decodes == []


def test_load_decodes_a_12_mp_jpeg_in_full(sunset_bytes: bytes, sunset_full: Image.Image) -> None:
    # Given the real 12 MP photo
    # When it is loaded without a target size
    img = load(sunset_bytes, Limits())
    # Then every pixel is there, as Pillow decodes it
    assert (img.mode, img.size) == ("RGB", (4272, 2848))
    assert mad(img, sunset_full) == 0
    assert img.info == {}


def test_load_decodes_a_12mp_jpeg_whole_for_the_large_variant(sunset_bytes: bytes) -> None:
    # Given the 4272 px wide photo and a 1920 px target (less than four times it)
    # When it is loaded for that target
    img = load(sunset_bytes, Limits(), target_width=1920)
    # Then it is decoded at full size: a half-scale draft (2136 px) would leave LANCZOS a step
    # of 1.1x and the large variant soft (tests/bench/RESULTS.md, "Detail")
    assert img.size == (4272, 2848)


@pytest.mark.parametrize(
    ("target_width", "target_height", "expected"),
    [
        (2137, None, (4272, 2848)),  # less than four times: full decode
        (1069, None, (4272, 2848)),
        (1068, None, (2136, 1424)),  # exactly four times: half scale, twice the target
        (534, None, (1068, 712)),  # eight times: quarter scale
        (150, 150, (534, 356)),  # a thumbnail: both sides count
        (None, 700, (2136, 1424)),
        (None, None, (4272, 2848)),
    ],
)
def test_load_drafts_by_powers_of_two_towards_the_target(
    sunset_bytes: bytes,
    target_width: int | None,
    target_height: int | None,
    expected: tuple[int, int],
) -> None:
    # Given the 4272x2848 photo and a target size
    # When it is loaded for that target
    img = load(sunset_bytes, Limits(), target_width=target_width, target_height=target_height)
    # Then the decode scale is the smallest 1/2^n that stays at or above twice the target
    assert img.size == expected


def test_load_does_not_draft_a_jpeg_less_than_twice_the_target(wood_bytes: bytes) -> None:
    # Given the 2560 px wide photo and a 1920 px target
    # When it is loaded for that target
    img = load(wood_bytes, Limits(), target_width=1920)
    # Then it is decoded at full size: a draft would lose quality for little time
    assert img.size == (2560, 1920)


def test_a_large_png_with_alpha_stays_rgba(sunset_alpha_bytes: bytes) -> None:
    # Given the real 12 MP photo as an RGBA PNG
    # When it is probed and loaded
    info = probe(sunset_alpha_bytes, Limits())
    img = load(sunset_alpha_bytes, Limits())
    # Then the alpha channel is kept as it was
    assert (info.format, info.mode, info.has_alpha) == ("png", "RGBA", True)
    assert (img.mode, img.size) == ("RGBA", (4272, 2848))
    alpha = img.getchannel("A")
    assert alpha.getpixel((100, 0)) == 255
    assert alpha.getpixel((100, 2847)) == 0


# --- limits -------------------------------------------------------------------------------------


def test_a_pixel_bomb_is_refused_from_its_header(pixel_decodes: list[object]) -> None:
    # Given a few KB of PNG whose header claims 60000x60000 pixels
    bomb = png_header_only(60_000, 60_000)
    assert len(bomb) < 10_000
    # When it is probed and loaded
    for step in (probe, load):
        with pytest.raises(ImagingError) as raised:
            step(bomb, Limits())
        # Then both refuse it from the header, as too_many_pixels, decoding nothing
        assert raised.value.code == "too_many_pixels"
    assert pixel_decodes == []


def test_a_pixel_bomb_costs_no_memory(tmp_path: Path) -> None:
    # Given the 60000x60000 PNG header (10.8 GB as pixels) in a file
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(60_000, 60_000))
    # When a separate process, allowed only 1 GiB more address space, probes and loads it
    result = run_python(
        """
        import json, resource, sys
        from imagepipe.imaging import ImagingError, Limits, load, probe
        data = open(sys.argv[1], "rb").read()
        with open("/proc/self/status") as status:
            vm = next(int(l.split()[1]) for l in status if l.startswith("VmSize:")) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), vm + (1 << 30)))
        before = peak_kib()
        codes = []
        for step in (probe, load):
            try:
                step(data, Limits())
            except ImagingError as error:
                codes.append(error.code)
        print(json.dumps({"codes": codes, "grown_kib": peak_kib() - before}))
        """,
        str(bomb),
    )
    # Then both refuse it, and the process grew by less than 16 MiB
    assert result["codes"] == ["too_many_pixels", "too_many_pixels"]
    assert result["grown_kib"] < 16 * 1024


def test_pixels_over_the_limit_are_refused_before_decoding(
    sunset_bytes: bytes, pixel_decodes: list[object]
) -> None:
    # Given the 12.2 MP photo and a 12 MP limit, with Pillow's pixel decoding watched
    limits = Limits(max_pixels=12_000_000)
    # When it is probed and loaded
    for step in (probe, load):
        with pytest.raises(ImagingError) as raised:
            step(sunset_bytes, limits)
        # Then both refuse it from the header, without decoding a single pixel
        assert raised.value.code == "too_many_pixels"
        assert "4272x2848" in raised.value.message
    assert pixel_decodes == []


def test_the_default_limit_is_50_megapixels() -> None:
    # Given PNG headers just under and just over 50 MP (below Pillow's own bomb guard)
    # When they are probed
    # Then the limit decides
    assert probe(png_header_only(10_000, 5_000, rows=1), Limits()).width == 10_000
    with pytest.raises(ImagingError) as raised:
        probe(png_header_only(10_000, 5_001, rows=1), Limits())
    assert raised.value.code == "too_many_pixels"


def _animated_gif(photo: Image.Image, frames: int) -> tuple[bytes, list[Image.Image]]:
    # Different crops of a real photo, so that every frame differs.
    step = (photo.width - 160) // frames
    images = [photo.crop((i * step, 0, i * step + 160, 120)) for i in range(frames)]
    data = encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return data, images


def test_an_animated_gif_counts_its_frames_and_loads_the_first(small_photo: Image.Image) -> None:
    # Given a 6-frame animated GIF made from a real photo
    data, _ = _animated_gif(small_photo, 6)
    # When it is probed and loaded
    info = probe(data, Limits())
    img = load(data, Limits())
    # Then all frames are counted and the first one is decoded
    assert (info.format, info.frames, info.width, info.height) == ("gif", 6, 160, 120)
    with Image.open(io.BytesIO(data)) as gif:
        first = gif.convert("RGB")
    assert img.mode == "RGB"
    assert mad(img, first) == 0


def test_too_many_frames_are_refused(small_photo: Image.Image) -> None:
    # Given a 6-frame GIF and a 5-frame limit
    data, _ = _animated_gif(small_photo, 6)
    limits = Limits(max_frames=5)
    # When it is probed and loaded
    for step in (probe, load):
        with pytest.raises(ImagingError) as raised:
            step(data, limits)
        # Then both refuse it as too_many_frames
        assert raised.value.code == "too_many_frames"


def test_an_animation_whose_frames_add_up_past_the_cap_is_refused(
    small_photo: Image.Image, pixel_decodes: list[object]
) -> None:
    # Given a 6-frame 160x120 GIF (115,200 pixels in all), each frame far below the pixel
    # limit, and a cap of 100,000 pixels over all frames
    data, _ = _animated_gif(small_photo, 6)
    limits = Limits(max_animation_pixels=100_000)
    # When it is probed and loaded
    for step in (probe, load):
        with pytest.raises(ImagingError) as raised:
            step(data, limits)
        # Then both refuse it as too_many_pixels, naming the sum, before decoding a frame
        assert raised.value.code == "too_many_pixels"
        assert "115200 pixels in all" in raised.value.message
    assert pixel_decodes == []
    # And the same file passes under the default cap (500 MP)
    assert probe(data, Limits()).frames == 6


def test_an_animated_webp_counts_its_frames(small_photo: Image.Image) -> None:
    # Given a 3-frame animated WebP
    frames = [small_photo.rotate(angle) for angle in (0, 90, 180)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    # When it is probed and loaded
    info = probe(data, Limits())
    img = load(data, Limits())
    # Then the frames are counted and the first is decoded
    assert (info.format, info.frames) == ("webp", 3)
    assert mad(img, small_photo) < 4


# --- orientation --------------------------------------------------------------------------------

_UPRIGHT = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _marked(photo: Image.Image) -> Image.Image:
    # A red block in the top-left corner: no two orientations of the photo look alike.
    img = photo.copy()
    img.paste((255, 0, 0), (0, 0, img.width // 4, img.height // 3))
    return img


def _saved_with_orientation(img: Image.Image, fmt: str, orientation: int) -> bytes:
    exif = camera_exif(orientation=orientation)
    if fmt == "JPEG":
        return encode(img, "JPEG", quality=95, exif=exif)
    if fmt == "WEBP":
        return encode(img, "WEBP", quality=95, exif=exif)
    if fmt == "PNG":
        return encode(img, "PNG", exif=exif)
    if fmt == "AVIF":
        return encode(img, "AVIF", quality=95, exif=exif)
    return encode(img, "HEIF", quality=95, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied(tiny_photo: Image.Image, orientation: int) -> None:
    # Given a real photo stored sideways/mirrored, with the EXIF orientation to undo it
    upright = _marked(tiny_photo)
    inverse = _UPRIGHT[orientation]
    stored = upright if inverse is None else upright.transpose(_inverse(inverse))
    data = _saved_with_orientation(stored, "JPEG", orientation)
    # When it is probed and loaded
    info = probe(data, Limits())
    img = load(data, Limits())
    # Then both see it as the viewer does: upright, with width and height swapped if rotated
    assert (info.width, info.height) == upright.size
    assert img.size == upright.size
    assert mad(img, upright) < 6
    wrong = [t for o, t in _UPRIGHT.items() if o != orientation]
    for other in wrong:
        candidate = stored if other is None else stored.transpose(other)
        if candidate.size == img.size:
            assert mad(img, candidate) > 20, other


def _inverse(method: Image.Transpose) -> Image.Transpose:
    return {
        Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90,
        Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270,
    }.get(method, method)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG", "AVIF", "HEIF"])
def test_orientation_6_is_applied_in_every_format(small_photo: Image.Image, fmt: str) -> None:
    # Given a 640x427 photo stored rotated, with orientation 6 (turn 90 degrees clockwise)
    upright = _marked(small_photo)
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    data = _saved_with_orientation(stored, fmt, 6)
    # When it is probed and loaded
    info = probe(data, Limits())
    img = load(data, Limits())
    # Then width and height are swapped back and the pixels are upright
    assert (info.width, info.height) == (640, 427)
    assert img.size == (640, 427)
    assert mad(img, upright) < 4
    assert mad(img, stored.transpose(Image.Transpose.ROTATE_90)) > 20


# --- formats and modes --------------------------------------------------------------------------


def test_a_progressive_jpeg_decodes_like_a_baseline_one(small_photo: Image.Image) -> None:
    # Given the same photo as baseline and as progressive JPEG
    baseline = encode(small_photo, "JPEG", quality=90)
    progressive = encode(small_photo, "JPEG", quality=90, progressive=True)
    # When both are loaded
    info = probe(progressive, Limits())
    a = load(baseline, Limits())
    b = load(progressive, Limits())
    # Then they decode to (nearly) the same pixels
    assert info.format == "jpeg"
    assert mad(a, b) < 0.5
    assert mad(b, small_photo) < 3


def test_a_cmyk_jpeg_becomes_rgb(small_photo: Image.Image) -> None:
    # Given a CMYK JPEG of a real photo (no profile: a plain conversion)
    data = encode(small_photo.convert("CMYK"), "JPEG", quality=95)
    # When it is probed and loaded
    info = probe(data, Limits())
    img = load(data, Limits())
    # Then it is RGB, with the photo's colours
    assert (info.mode, img.mode) == ("CMYK", "RGB")
    assert mad(img, small_photo) < 4


def test_a_16_bit_png_is_scaled_to_8_bits_not_clipped(small_photo: Image.Image) -> None:
    # Given a 16-bit greyscale PNG of a real photo (values up to 65535)
    grey = small_photo.convert("L")
    sixteen = grey.convert("I").point(lambda v: v * 257).convert("I;16")
    data = encode(sixteen, "PNG")
    # When it is probed and loaded
    info = probe(data, Limits())
    img = load(data, Limits())
    # Then the 16-bit values are scaled to 0-255 (clipping would make it white)
    assert info.mode == "I;16"
    assert img.mode == "RGB"
    assert mad(img.convert("L"), grey, "L") < 0.6


def test_a_palette_gif_with_transparency_becomes_rgba(small_photo: Image.Image) -> None:
    # Given a real photo as a 255-colour GIF, with a transparent rectangle
    palette = small_photo.quantize(255)
    palette.paste(255, (100, 100, 300, 200))
    data = encode(palette, "GIF", transparency=255)
    # When it is probed and loaded
    info = probe(data, Limits())
    img = load(data, Limits())
    # Then it is RGBA, transparent exactly there
    assert (info.mode, info.has_alpha) == ("P", True)
    assert img.mode == "RGBA"
    alpha = img.getchannel("A")
    assert alpha.getpixel((150, 150)) == 0
    assert alpha.getpixel((50, 50)) == 255
    assert alpha.getbbox() == (0, 0, 640, 427)
    assert alpha.histogram()[0] == 200 * 100


@pytest.mark.parametrize("mode", ["LA", "RGBA", "L", "1", "P"])
def test_every_png_mode_becomes_rgb_or_rgba(small_photo: Image.Image, mode: str) -> None:
    # Given a real photo as a PNG in the given mode, with a gradient alpha where it has one
    img = small_photo.convert("RGBA" if mode in ("LA", "RGBA") else "RGB")
    if mode in ("LA", "RGBA"):
        img.putalpha(ImageOps.invert(Image.linear_gradient("L")).resize(img.size))
    source = img.convert(mode)
    data = encode(source, "PNG")
    # When it is loaded
    out = load(data, Limits())
    # Then it is RGBA when it had alpha, RGB otherwise, with the same pixels
    expected = "RGBA" if mode in ("LA", "RGBA") else "RGB"
    assert out.mode == expected
    assert mad(out, source.convert(expected), expected) < 1


def test_a_png_palette_with_alpha_per_entry_becomes_rgba(small_photo: Image.Image) -> None:
    # Given a real photo as a 256-colour PNG whose tRNS gives entry i the alpha i
    source = small_photo.quantize(256)
    data = encode(source, "PNG", transparency=bytes(range(256)))
    # When it is probed and loaded
    info = probe(data, Limits())
    out = load(data, Limits())
    # Then every pixel has its entry's alpha
    assert (info.mode, info.has_alpha) == ("P", True)
    assert out.mode == "RGBA"
    assert out.getchannel("A").tobytes() == source.tobytes()


def test_an_rgb_png_with_a_colour_key_becomes_rgba() -> None:
    # Given an RGB PNG whose tRNS chunk makes one colour transparent
    img = Image.new("RGB", (20, 10), (10, 200, 30))
    img.paste((255, 0, 255), (0, 0, 10, 10))
    data = encode(img, "PNG", transparency=(255, 0, 255))
    # When it is loaded
    out = load(data, Limits())
    # Then that colour is transparent and the rest opaque
    assert out.mode == "RGBA"
    assert out.getpixel((5, 5))[3] == 0  # type: ignore[index]
    assert out.getpixel((15, 5)) == (10, 200, 30, 255)


def test_an_avif_upload_decodes(small_photo: Image.Image) -> None:
    # Given a real photo as AVIF
    data = encode(small_photo, "AVIF", quality=90)
    # When it is probed and loaded
    info = probe(data, Limits())
    img = load(data, Limits())
    # Then it is read as AVIF with its pixels
    assert (info.format, info.ext, info.content_type) == ("avif", "avif", "image/avif")
    assert (info.width, info.height, info.frames) == (640, 427, 1)
    assert img.mode == "RGB"
    assert mad(img, small_photo) < 3


def test_an_avif_with_alpha_decodes_to_rgba(small_photo: Image.Image) -> None:
    # Given a real photo with an alpha gradient as AVIF
    rgba = small_photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    data = encode(rgba, "AVIF", quality=90)
    # When it is loaded
    info = probe(data, Limits())
    img = load(data, Limits())
    # Then the alpha channel survives
    assert info.has_alpha
    assert img.mode == "RGBA"
    assert mad(img.getchannel("A"), rgba.getchannel("A"), "L") < 2


def test_a_heic_upload_decodes(small_photo: Image.Image) -> None:
    # Given a real photo as HEIC, as phones write it
    data = encode(small_photo, "HEIF", quality=90)
    assert data[4:12] == b"ftypheic"
    # When it is probed and loaded
    info = probe(data, Limits())
    img = load(data, Limits())
    # Then it is read as HEIC with its pixels
    assert (info.format, info.ext, info.content_type) == ("heic", "heic", "image/heic")
    assert (info.width, info.height, info.frames) == (640, 427, 1)
    assert img.mode == "RGB"
    assert mad(img, small_photo) < 3
    assert pillow_heif.__version__


# --- colour -------------------------------------------------------------------------------------


def test_a_display_p3_photo_is_converted_to_srgb(tiny_photo: Image.Image) -> None:
    # Given a real photo (plus a saturated patch) whose numbers are Display P3, tagged so
    source = tiny_photo.copy()
    source.paste((230, 60, 50), (0, 0, 16, 16))
    data = encode(source, "PNG", icc_profile=display_p3_profile())
    # When it is loaded
    img = load(data, Limits())
    # Then every pixel holds what an exact P3 to sRGB conversion gives, not the P3 numbers
    expected = Image.new("RGB", source.size)
    raw = source.tobytes()
    expected.frombytes(
        b"".join(bytes(p3_to_srgb((raw[i], raw[i + 1], raw[i + 2]))) for i in range(0, len(raw), 3))
    )
    converted, unconverted = mad(img, expected), mad(source, expected)
    assert converted < 0.6
    assert unconverted > 5 * converted
    assert img.getpixel((8, 8)) == pytest.approx(p3_to_srgb((230, 60, 50)), abs=1)
    assert "icc_profile" not in img.info


def test_an_srgb_profile_changes_nothing(small_photo: Image.Image) -> None:
    # Given a real photo tagged with the sRGB profile a camera embeds
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(small_photo, "PNG", icc_profile=srgb)
    # When it is loaded
    img = load(data, Limits())
    # Then the numbers are left alone
    assert mad(img, small_photo) == 0


def test_a_broken_icc_profile_is_ignored(small_photo: Image.Image) -> None:
    # Given a photo with an ICC profile that is not one
    data = encode(small_photo, "PNG", icc_profile=b"not an icc profile" * 10)
    # When it is loaded
    img = load(data, Limits())
    # Then the pixels are taken as sRGB, as browsers do
    assert mad(img, small_photo) == 0


def test_loaded_images_carry_no_metadata(small_photo: Image.Image) -> None:
    # Given a JPEG with EXIF (GPS too), XMP and an ICC profile
    data = encode(
        small_photo,
        "JPEG",
        exif=camera_exif(lat=52.5, lon=13.4),
        xmp=b"<x:xmpmeta>secret</x:xmpmeta>",
        icc_profile=display_p3_profile(),
    )
    # When it is loaded
    img = load(data, Limits())
    # Then nothing of it is left on the image for an encoder to copy
    assert img.info == {}
    assert len(img.getexif()) == 0


# --- broken and hostile files -------------------------------------------------------------------


def test_a_truncated_jpeg_is_corrupt(sunset_bytes: bytes) -> None:
    # Given the 12 MP photo cut in half: the header is intact
    data = sunset_bytes[: len(sunset_bytes) // 2]
    # When it is probed and loaded
    info = probe(data, Limits())
    with pytest.raises(ImagingError) as raised:
        load(data, Limits())
    # Then the header reads, but decoding fails as corrupt_image
    assert info.width == 4272
    assert raised.value.code == "corrupt_image"


def test_a_truncated_image_stays_corrupt_even_if_someone_allowed_truncation(
    small_photo: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given some other code switched Pillow to accept truncated images
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = encode(small_photo, "JPEG", quality=90)
    # When a truncated JPEG and a truncated PNG are loaded
    for truncated in (data[: len(data) * 2 // 3], encode(small_photo, "PNG")[:20_000]):
        with pytest.raises(ImagingError) as raised:
            load(truncated, Limits())
        # Then they are still refused, and the switch is back off
        assert raised.value.code == "corrupt_image"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_a_truncated_header_is_corrupt(small_photo: Image.Image) -> None:
    # Given files cut right after their magic bytes
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "AVIF", "HEIF"):
        data = encode(small_photo, fmt)[:40]
        # When they are probed
        with pytest.raises(ImagingError) as raised:
            probe(data, Limits())
        # Then they are corrupt_image (the format was recognised)
        assert raised.value.code == "corrupt_image", fmt


def test_a_jpeg_with_html_appended_decodes_without_it(small_photo: Image.Image) -> None:
    # Given a real JPEG with an HTML payload after its end (a polyglot)
    payload = b"<html><script>alert('pwned')</script></html>"
    data = encode(small_photo, "JPEG", quality=90) + payload
    # When it is loaded
    img = load(data, Limits())
    # Then the picture decodes as usual and the payload is not part of it
    assert probe(data, Limits()).format == "jpeg"
    assert mad(img, decode(data[: -len(payload)])) == 0
    assert img.info == {}


def test_the_draft_scale_follows_the_orientation(sunset_full: Image.Image) -> None:
    # Given a 2400x1600 photo stored on its side (1600x2400) with orientation 6
    upright = _marked(sunset_full.resize((2400, 1600)))
    data = _saved_with_orientation(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", 6)
    # When it is loaded for a 600 px wide target
    img = load(data, Limits(), target_width=600)
    # Then the shown width decides the scale (1/2: twice the target), and the result is upright
    assert img.size == (1200, 800)
    assert mad(img, upright.resize((1200, 800), Image.Resampling.BOX)) < 4


def test_a_jpeg_with_extra_mpf_images_is_one_frame(small_photo: Image.Image) -> None:
    # Given an MPO file: a JPEG followed by a second picture (as cameras store stereo pairs,
    # and phones depth maps or HDR gain maps)
    second = small_photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    data = encode(small_photo, "MPO", save_all=True, append_images=[second], quality=90)
    # When it is probed and loaded
    info = probe(data, Limits())
    img = load(data, Limits())
    # Then it is a one-frame JPEG whose first picture is decoded
    assert (info.format, info.frames) == ("jpeg", 1)
    assert mad(img, small_photo) < 3


def test_an_animated_png_counts_its_frames(small_photo: Image.Image) -> None:
    # Given a 4-frame APNG
    frames = [small_photo.rotate(angle) for angle in (0, 10, 20, 30)]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=50)
    # When it is probed and loaded
    info = probe(data, Limits())
    img = load(data, Limits())
    # Then the frames are counted and the first one is decoded
    assert (info.format, info.frames) == ("png", 4)
    assert mad(img, frames[0]) == 0


def test_pillows_bomb_warning_is_a_limit_error_too() -> None:
    # Given a 95 MP PNG header (Pillow warns above ~89 MP) where warnings are errors
    data = png_header_only(10_000, 9_500, rows=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # When it is probed
        with pytest.raises(ImagingError) as raised:
            probe(data, Limits())
    # Then the answer is still too_many_pixels, not a stray warning
    assert raised.value.code == "too_many_pixels"
