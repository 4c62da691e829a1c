"""Metadata of an image for the metadata job: what the header says, camera EXIF, GPS position,
colours, a perceptual hash and a placeholder. Everything returned is JSON as is.

EXIF and GPS are read here and only here: they are stored in the image record, never in an
output file."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from PIL import ExifTags, Image, ImageStat

from imagepipe.imaging import _pillow
from imagepipe.imaging.colour import profile_name
from imagepipe.imaging.decode import DECODE_ERRORS, Probe, Source, header_exif, open_header
from imagepipe.imaging.phash import phash
from imagepipe.imaging.render import REDUCING_GAP
from imagepipe.imaging.thumbhash import MAX_SIDE as THUMBHASH_SIDE
from imagepipe.imaging.thumbhash import thumbhash

DOMINANT_COLOURS = 5
_CANDIDATE_COLOURS = 16
_DISTINCT = 8.0  # RGB distance below which two swatches look the same
_COLOUR_SIDE = 64
_WORK_SIDE = 256  # one small copy serves the hash, the colours and the placeholder
_TEXT_LIMIT = 64
_EXIF_DATETIME = re.compile(r"(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_UTC_OFFSET = re.compile(r"[+-]\d{2}:\d{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_Base = ExifTags.Base
_GPS = ExifTags.GPS


def analyze(data: Source, img: Image.Image, probe: Probe) -> dict[str, Any]:
    """img is the decoded image (load()), probe the header's facts (probe()), data the file
    (bytes or a seekable binary file)."""
    icc, exif = _header_metadata(data, probe)
    work = _shrink(img, _WORK_SIDE)
    return {
        "format": probe.format,
        "mode": probe.mode,
        "width": probe.width,
        "height": probe.height,
        "hasAlpha": probe.has_alpha,
        "frames": probe.frames,
        "iccProfile": profile_name(icc),
        "exif": _camera(exif),
        "gps": _gps(exif),
        "colors": _colours(work),
        "phash": phash(work),
        "placeholder": thumbhash(_shrink(work, THUMBHASH_SIDE)),
        "placeholderType": "thumbhash",
    }


def _header_metadata(data: Source, probe: Probe) -> tuple[bytes | None, Image.Exif]:
    try:
        with open_header(data, probe.format) as src:
            icc = src.info.get("icc_profile")
            exif = header_exif(src)
    except DECODE_ERRORS:
        return None, Image.Exif()
    return (icc if isinstance(icc, bytes) else None), exif


def _camera(exif: Image.Exif) -> dict[str, Any]:
    """The camera facts people filter and sort by; absent or nonsensical values are left out."""
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except DECODE_ERRORS:
        sub = {}

    def tag(key: int) -> Any:
        # Some writers put the Exif sub-IFD's tags in IFD0.
        return sub.get(key, exif.get(key))

    found: dict[str, Any] = {
        "make": _text(exif.get(_Base.Make)),
        "model": _text(exif.get(_Base.Model)),
        "lens": _text(tag(_Base.LensModel)),
        "dateTimeOriginal": _datetime(tag(_Base.DateTimeOriginal), tag(_Base.OffsetTimeOriginal)),
    }
    exposure = _positive(tag(_Base.ExposureTime))
    if exposure is not None:
        found["exposureTime"] = _shutter(exposure)
        found["exposureTimeSeconds"] = exposure
    fnumber = _positive(tag(_Base.FNumber))
    found["fNumber"] = round(fnumber, 2) if fnumber is not None else None
    iso = _positive(tag(_Base.ISOSpeedRatings))
    found["iso"] = round(iso) if iso is not None else None
    focal = _positive(tag(_Base.FocalLength))
    found["focalLength"] = round(focal, 2) if focal is not None else None
    return {key: value for key, value in found.items() if value is not None}


def _gps(exif: Image.Exif) -> dict[str, float] | None:
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except DECODE_ERRORS:
        return None
    lat = _degrees(gps.get(_GPS.GPSLatitude))
    lon = _degrees(gps.get(_GPS.GPSLongitude))
    if lat is None or lon is None:
        return None
    if (_text(gps.get(_GPS.GPSLatitudeRef)) or "N").upper().startswith("S"):
        lat = -lat
    if (_text(gps.get(_GPS.GPSLongitudeRef)) or "E").upper().startswith("W"):
        lon = -lon
    if abs(lat) > 90 or abs(lon) > 180:
        return None
    return {"lat": round(lat, 7), "lon": round(lon, 7)}


def _colours(work: Image.Image) -> dict[str, Any]:
    # A box filter only averages: unlike LANCZOS it invents no overshoot colours at edges.
    small = _shrink(work, _COLOUR_SIDE, Image.Resampling.BOX)
    rgb = small.convert("RGB")
    mask = _opaque(small)
    # More candidates than needed, then the most frequent ones that a person can tell apart:
    # median cut also gives a flat colour's edge pixels boxes of their own.
    quantized = rgb.quantize(colors=_CANDIDATE_COLOURS, method=Image.Quantize.MEDIANCUT)
    counts = quantized.histogram(mask=mask)[:_CANDIDATE_COLOURS]
    palette = quantized.getpalette() or []
    ranked = sorted(range(len(counts)), key=lambda i: -counts[i])
    chosen: list[tuple[int, int, int]] = []
    for index in ranked:
        if not counts[index] or len(palette) < 3 * index + 3:
            continue
        r, g, b = palette[3 * index : 3 * index + 3]
        if all(_distance((r, g, b), c) > _DISTINCT for c in chosen):
            chosen.append((r, g, b))
        if len(chosen) == DOMINANT_COLOURS:
            break
    # The average from the larger copy: fewer edge pixels blended by the shrinking.
    mean = ImageStat.Stat(work.convert("RGB"), _opaque(work)).mean
    return {"dominant": [_hex(c) for c in chosen], "average": _hex(round(v) for v in mean)}


def _opaque(img: Image.Image) -> Image.Image | None:
    """Colours nobody sees do not count: a mask of the (mostly) opaque pixels, or None to
    weigh all of them (no alpha, or nothing opaque at all)."""
    if img.mode != "RGBA":
        return None
    mask = img.getchannel("A").point(lambda a: 255 if a >= 128 else 0)
    return mask if mask.getbbox() is not None else None


def _shrink(
    img: Image.Image, side: int, resample: Image.Resampling = Image.Resampling.LANCZOS
) -> Image.Image:
    img = _pillow.rgb_or_rgba(img)
    if max(img.size) <= side:
        return img
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, resample, reducing_gap=REDUCING_GAP)


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return math.dist(a, b)


def _hex(rgb: Any) -> str:
    r, g, b = (min(255, max(0, int(v))) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    cleaned = _CONTROL.sub("", value).strip()
    return cleaned[:_TEXT_LIMIT] or None


def _number(value: Any) -> float | None:
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    try:
        number = float(value)  # IFDRational, int or float
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def _positive(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _shutter(seconds: float) -> str:
    """The shutter speed as cameras show it: 1/250 for the usual fractions, else 0.4 or 2."""
    if seconds < 1:
        denominator = round(1 / seconds)
        if denominator and abs(1 / seconds - denominator) <= 0.02 * denominator:
            return f"1/{denominator}"
    return f"{seconds:.4g}"


def _datetime(value: Any, offset: Any) -> str | None:
    """EXIF's "2008:04:19 13:43:16" as ISO 8601, with the UTC offset when the camera wrote one."""
    text = _text(value)
    match = _EXIF_DATETIME.fullmatch(text or "")
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        # Camera clocks keep local time; the offset, when there is one, is a separate tag.
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None  # "0000:00:00 00:00:00" and the like
    iso = moment.isoformat()
    zone = _text(offset)
    return iso + zone if zone and _UTC_OFFSET.fullmatch(zone) else iso


def _degrees(value: Any) -> float | None:
    """EXIF's (degrees, minutes, seconds) rationals as decimal degrees."""
    if not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 3:
        return None
    parts = [_number(part) for part in value]
    if any(part is None or part < 0 for part in parts):
        return None
    units = (1.0, 60.0, 3600.0)[: len(parts)]
    return sum(part / unit for part, unit in zip(parts, units, strict=True) if part is not None)
