"""The allowlist of input formats and sniffing them from their magic bytes.

Only the bytes decide the format: neither the filename nor the declared Content-Type is trusted,
and each format is opened with exactly one Pillow decoder, so a file that looks like a JPEG can
never reach, say, the EPS or PSD plugins."""

from __future__ import annotations

from dataclasses import dataclass

SNIFF_BYTES = 64


@dataclass(frozen=True)
class Format:
    name: str
    ext: str
    content_type: str
    pillow: str  # the one Pillow plugin allowed to open it


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("jpeg", "jpg", "image/jpeg", "JPEG"),
        Format("png", "png", "image/png", "PNG"),
        Format("webp", "webp", "image/webp", "WEBP"),
        Format("gif", "gif", "image/gif", "GIF"),
        Format("avif", "avif", "image/avif", "AVIF"),
        # pillow_heif's plugin; libheif reads both HEVC-coded .heic and generic .heif files.
        Format("heic", "heic", "image/heic", "HEIF"),
    )
}

# ISO-BMFF (ftyp) brands. The generic structural brands (mif1, msf1, miaf) say nothing about the
# codec, so they only count through a coding brand listed beside them.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})


def sniff(head: bytes) -> str | None:
    """The allowlisted format of a file from its first bytes (at most 64 are read), or None."""
    head = head[:SNIFF_BYTES]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and head[12:16] in (b"VP8 ", b"VP8L", b"VP8X"):
        return "webp"
    return _sniff_isobmff(head)


def _sniff_isobmff(head: bytes) -> str | None:
    if head[4:8] != b"ftyp" or len(head) < 16:
        return None
    box_size = int.from_bytes(head[0:4], "big")
    if box_size < 16:
        return None
    end = min(box_size, len(head))
    # Major brand first, then the compatible brands (bytes 12-16 are the minor version).
    brands = [head[8:12]] + [head[i : i + 4] for i in range(16, end - 3, 4)]
    for brand in brands:
        if brand in _AVIF_BRANDS:
            return "avif"
        if brand in _HEIC_BRANDS:
            return "heic"
    return None
