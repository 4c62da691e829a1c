"""Builders for the imaging tests: encoded variants of real photos, hostile files, a Display P3
ICC profile, EXIF with GPS, and the colour maths to check conversions against."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageChops, ImageStat
from PIL.TiffImagePlugin import IFDRational

ROOT = Path(__file__).resolve().parents[2]
# Read from the kernel's VmHWM: ru_maxrss survives exec, so a process started by pytest would
# begin at pytest's own peak and hide what it allocates itself.
_PEAK = """
def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
"""

Matrix = Sequence[Sequence[float]]
Vector = Sequence[float]


def encode(img: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def mad(a: Image.Image, b: Image.Image, mode: str = "RGB") -> float:
    """Mean absolute difference per channel, 0-255."""
    assert a.size == b.size, (a.size, b.size)
    diff = ImageChops.difference(a.convert(mode), b.convert(mode))
    means = ImageStat.Stat(diff).mean
    return sum(means) / len(means)


def shrink(img: Image.Image, width: int) -> Image.Image:
    height = round(img.height * width / img.width)
    return img.resize((width, height), Image.Resampling.LANCZOS)


def run_python(script: str, *args: str) -> Any:
    """The JSON that `script` prints, run by a fresh interpreter that sees only functions/;
    the script may call peak_kib(), its peak resident set so far."""
    # The test's own interpreter and script: no outside input.
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _PEAK + textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT / "functions"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    return json.loads(done.stdout)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_header_only(width: int, height: int, rows: int = 16) -> bytes:
    """A valid PNG signature and IHDR claiming width x height RGB, with pixel data for only
    the first rows: a few KB that would need width*height*3 bytes of memory to decode."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * width) * rows, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


# --- EXIF -------------------------------------------------------------------------------------


def png_zeros(width: int, height: int, *, colour: int) -> bytes:
    """A valid PNG of width x height zero pixels: kilobytes of file, megabytes of pixels."""
    channels = {0: 1, 2: 3, 6: 4}[colour]
    compressor = zlib.compressobj(9)
    # Fed in 4 MiB slices, so that hundreds of MB of raw rows never sit in memory (the parent's
    # pages count in every forked job's resident set).
    remaining = height * (1 + width * channels)
    idat = b""
    # All zeros: every row's filter byte (None) and every pixel.
    slice_ = b"\x00" * (1 << 22)
    while remaining:
        step = min(remaining, len(slice_))
        idat += compressor.compress(slice_[:step])
        remaining -= step
    idat += compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def rational(value: float, denominator: int = 10_000) -> IFDRational:
    return IFDRational(round(value * denominator), denominator)


def dms(degrees: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    whole = int(degrees)
    minutes = int((degrees - whole) * 60)
    seconds = (degrees - whole - minutes / 60) * 3600
    return IFDRational(whole, 1), IFDRational(minutes, 1), rational(seconds, 1000)


def camera_exif(
    *,
    lat: float | None = None,
    lon: float | None = None,
    orientation: int | None = None,
    exposure: IFDRational | None = None,
) -> Image.Exif:
    """EXIF as a phone writes it: camera, lens, time, exposure and, given lat/lon, GPS with
    hemisphere refs."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Imagepipe"
    exif[ExifTags.Base.Model] = "TestCam 1"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.Exif] = {
        ExifTags.Base.DateTimeOriginal: "2024:06:01 18:30:05",
        ExifTags.Base.OffsetTimeOriginal: "+02:00",
        ExifTags.Base.ExposureTime: exposure if exposure is not None else IFDRational(1, 250),
        ExifTags.Base.FNumber: IFDRational(28, 10),
        ExifTags.Base.ISOSpeedRatings: 200,
        ExifTags.Base.FocalLength: IFDRational(236, 10),
        ExifTags.Base.LensModel: "TestLens 23mm F2",
    }
    if lat is not None and lon is not None:
        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N" if lat >= 0 else "S",
            ExifTags.GPS.GPSLatitude: dms(abs(lat)),
            ExifTags.GPS.GPSLongitudeRef: "E" if lon >= 0 else "W",
            ExifTags.GPS.GPSLongitude: dms(abs(lon)),
        }
    return exif


# --- colour -----------------------------------------------------------------------------------

D50: Vector = (0.9642, 1.0, 0.8249)
D65_XY = (0.3127, 0.3290)
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
DISPLAY_P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
_BRADFORD: Matrix = (
    (0.8951, 0.2664, -0.1614),
    (-0.7502, 1.7135, 0.0367),
    (0.0389, -0.0685, 1.0296),
)


def _mul(m: Matrix, v: Vector) -> Vector:
    return [sum(m[i][j] * v[j] for j in range(3)) for i in range(3)]


def _matmul(a: Matrix, b: Matrix) -> Matrix:
    return tuple(
        tuple(sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)) for i in range(3)
    )


def _inverse(m: Matrix) -> Matrix:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return (
        ((e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det),
        ((f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det),
        ((d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det),
    )


def _xyz(xy: tuple[float, float]) -> Vector:
    x, y = xy
    return x / y, 1.0, (1 - x - y) / y


def rgb_to_xyz(primaries: tuple[tuple[float, float], ...]) -> Matrix:
    """Linear RGB to XYZ (D65) for the given primaries and a D65 white."""
    columns = [_xyz(p) for p in primaries]
    p = [[columns[j][i] for j in range(3)] for i in range(3)]
    s = _mul(_inverse(p), _xyz(D65_XY))
    return [[p[i][j] * s[j] for j in range(3)] for i in range(3)]


def _adapt_to_d50(m: Matrix) -> Matrix:
    src = _mul(_BRADFORD, _xyz(D65_XY))
    dst = _mul(_BRADFORD, D50)
    scale = [[dst[i] / src[i] if i == j else 0.0 for j in range(3)] for i in range(3)]
    return _matmul(_matmul(_inverse(_BRADFORD), _matmul(scale, _BRADFORD)), m)


def srgb_to_linear(v: float) -> float:
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def linear_to_srgb(v: float) -> float:
    v = min(1.0, max(0.0, v))
    return v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055


def p3_to_srgb(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """What an exact Display P3 to sRGB conversion gives (relative colorimetric, clipped)."""
    linear = [srgb_to_linear(c / 255) for c in rgb]
    xyz = _mul(rgb_to_xyz(DISPLAY_P3_PRIMARIES), linear)
    out = _mul(_inverse(rgb_to_xyz(SRGB_PRIMARIES)), xyz)
    r, g, b = (round(255 * linear_to_srgb(c)) for c in out)
    return r, g, b


def display_p3_profile(description: str = "Display P3 (imagepipe test)") -> bytes:
    """An ICC v2 matrix/TRC display profile for Display P3: its primaries adapted to D50 with
    Bradford, and the sRGB tone curve as a 1024-entry table."""
    m = _adapt_to_d50(rgb_to_xyz(DISPLAY_P3_PRIMARIES))
    curve = [round(65535 * srgb_to_linear(i / 1023)) for i in range(1024)]
    return _matrix_profile(description, m, curve)


def _s15f16(*values: float) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _matrix_profile(description: str, m: Matrix, curve: list[int]) -> bytes:
    text = description.encode("ascii") + b"\x00"
    desc = (
        b"desc\x00\x00\x00\x00"
        + struct.pack(">I", len(text))
        + text
        + struct.pack(">II", 0, 0)  # no Unicode description
        + struct.pack(">HB", 0, 0)  # no ScriptCode description
        + b"\x00" * 67
    )
    trc = b"curv\x00\x00\x00\x00" + struct.pack(">I", len(curve))
    trc += b"".join(struct.pack(">H", v) for v in curve)
    tags = [
        (b"desc", desc),
        (b"cprt", b"text\x00\x00\x00\x00No copyright, test data\x00"),
        (b"wtpt", b"XYZ \x00\x00\x00\x00" + _s15f16(*D50)),
        (b"rXYZ", b"XYZ \x00\x00\x00\x00" + _s15f16(m[0][0], m[1][0], m[2][0])),
        (b"gXYZ", b"XYZ \x00\x00\x00\x00" + _s15f16(m[0][1], m[1][1], m[2][1])),
        (b"bXYZ", b"XYZ \x00\x00\x00\x00" + _s15f16(m[0][2], m[1][2], m[2][2])),
        (b"rTRC", trc),
        (b"gTRC", trc),
        (b"bTRC", trc),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table = struct.pack(">I", len(tags))
    body = b""
    for signature, payload in tags:
        table += signature + struct.pack(">II", offset + len(body), len(payload))
        body += payload + b"\x00" * (-len(payload) % 4)
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"\x00" * 4  # preferred CMM
        + struct.pack(">I", 0x02100000)  # version 2.1
        + b"mntr"
        + b"RGB "
        + b"XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\x00" * 24  # platform, flags, manufacturer, model, attributes
        + struct.pack(">I", 0)  # perceptual intent
        + _s15f16(*D50)
        + b"\x00" * 48  # creator, profile id, reserved
    )
    assert len(header) == 128
    return header + table + body
