"""What an image is found by: its tags, the text a search matches (`searchableText`), and the
deterministic text embedding that stands in for Bedrock's on the local stack. Pure functions.

On AWS the tags and description come from a labelling provider (Rekognition, or a Bedrock
model) and the vector from Titan Multimodal Embeddings, computed from the pixels: a text query
finds images by what they show. Locally there is no model: `local_tags` derives words from what
the image and its file say (dominant colour names, orientation, brightness, camera, date,
filename words) and `text_embedding` hashes words into a vector (feature hashing), so a query
finds images that share a word with it. Both paths fill the same index of the same dimension.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Titan Multimodal Embeddings G1's default output length, and the vector index's dimension
# (template.yaml's VectorIndex): the local embedding has the same, so one index fits both.
EMBEDDING_DIMENSION = 1024
# A search query: at least one word, at most this many characters. QUERY_PATTERN is what the
# API's schema says of a word (two letters or digits in a row, found anywhere); the words()
# below also drop stop words, so "the" passes the schema and is still refused.
MAX_QUERY_LENGTH = 200
QUERY_PATTERN = r"[^\W_]{2}"
# Words that say nothing about an image (they would match every file called "IMG_0042 copy").
_STOPWORDS = frozenset(
    {"a", "an", "and", "the", "of", "in", "on", "at", "to", "with", "for", "by", "from", "over"}
    | {"my", "our", "img", "dsc", "dscn"}
    | {"image", "photo", "picture", "copy", "final", "edited", "jpg", "jpeg", "png", "webp"}
    | {"gif", "heic", "heif", "avif", "tif", "tiff", "pxl", "screenshot"}
)
_WORD = re.compile(r"[^\W_]+")
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)


def words(text: str) -> list[str]:
    """Lower-case words of letters or digits, accents folded ("Café_2024.jpg" -> cafe, 2024),
    stop words and single characters dropped, in order, repeats kept."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return [w for w in _WORD.findall(plain) if len(w) > 1 and w not in _STOPWORDS]


def filename_words(filename: str) -> list[str]:
    """The words of a file's name without its extension, camelCase split ("redCar.jpg")."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem)
    return words(spaced)


def colour_name(hex_colour: str) -> str | None:
    """A basic colour word for "#rrggbb" (hue, then lightness and saturation): one of black,
    white, grey, red, orange, yellow, green, teal, blue, purple, pink, brown."""
    rgb = _rgb(hex_colour)
    if rgb is None:
        return None
    hue, lightness, saturation = colorsys.rgb_to_hls(*(v / 255 for v in rgb))
    if lightness < 0.12:
        return "black"
    if lightness > 0.92:
        return "white"
    if saturation < 0.18 or (saturation < 0.3 and lightness < 0.25):
        return "grey"
    degrees = hue * 360
    if degrees < 15 or degrees >= 340:
        muted = saturation < 0.45 and lightness < 0.5
        name = "brown" if muted else "pink" if lightness > 0.7 else "red"
    elif degrees < 45:
        name = "brown" if lightness < 0.4 else "orange"
    elif degrees < 70:
        name = "brown" if lightness < 0.3 else "yellow"
    elif degrees < 165:
        name = "green"
    elif degrees < 195:
        name = "teal"
    elif degrees < 255:
        name = "blue"
    elif degrees < 290:
        name = "purple"
    else:
        name = "pink"
    return name


def local_tags(filename: str, metadata: Mapping[str, Any]) -> list[str]:
    """Tags from what the image and its file say, for the local provider: the dominant
    colours' names, orientation, dark or bright, transparent, animated, the camera's make and
    model, the year and month it was taken, and the filename's words. Unique, in that order."""
    tags: list[str] = []
    colours = metadata.get("colors") or {}
    for hex_colour in colours.get("dominant") or []:
        tags.append(colour_name(str(hex_colour)) or "")
    width, height = metadata.get("width"), metadata.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        ratio = width / height
        tags.append("square" if 0.95 <= ratio <= 1.05 else "landscape" if ratio > 1 else "portrait")
    average = _rgb(str(colours.get("average") or ""))
    if average is not None:
        # HLS lightness, not luma: a saturated red or blue is not "dark".
        lightness = (max(average) + min(average)) / 2 / 255
        tags.append("dark" if lightness < 0.2 else "bright" if lightness > 0.8 else "")
    if metadata.get("hasAlpha"):
        tags.append("transparent")
    frames = metadata.get("frames")
    if isinstance(frames, int) and frames > 1:
        tags.append("animated")
    camera = metadata.get("exif") or {}
    for field in ("make", "model"):
        if isinstance(camera.get(field), str):
            tags.extend(words(camera[field]))
    taken = camera.get("dateTimeOriginal")
    if isinstance(taken, str) and re.match(r"\d{4}-\d{2}", taken):
        month = int(taken[5:7])
        tags.append(taken[:4])
        if 1 <= month <= 12:
            tags.append(_MONTHS[month - 1])
    tags.extend(filename_words(filename))
    return _unique(t for t in tags if t)


def searchable_text(
    *,
    filename: str,
    tags: Sequence[str],
    description: str | None,
    metadata: Mapping[str, Any],
) -> str:
    """The text a search matches and the local embedding is made from: the description, the
    tags, the camera, the date, the colour names and the filename's words, deduplicated."""
    parts: list[str] = []
    if description:
        parts.append(description.strip())
    parts.extend(tags)
    camera = metadata.get("exif") or {}
    parts.extend(str(camera[f]) for f in ("make", "model", "lens") if camera.get(f))
    taken = camera.get("dateTimeOriginal")
    if isinstance(taken, str) and taken:
        parts.append(taken[:10])
    colours = metadata.get("colors") or {}
    parts.extend(filter(None, (colour_name(str(c)) for c in colours.get("dominant") or [])))
    parts.extend(filename_words(filename))
    return " ".join(_unique(p for p in parts if p))


def text_embedding(text: str, dimension: int = EMBEDDING_DIMENSION) -> list[float] | None:
    """A unit vector of the text's words by feature hashing (each word's hash picks a
    coordinate and a sign; a repeated word weighs 1 + ln(count)). Texts sharing no word are
    orthogonal (cosine 0) but for rare hash collisions. None for a text without words."""
    counts = Counter(words(text))
    if not counts:
        return None
    vector = [0.0] * dimension
    for word, count in counts.items():
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        sign = 1.0 if digest & 1 else -1.0
        vector[(digest >> 1) % dimension] += sign * (1.0 + math.log(count))
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector]


def _rgb(hex_colour: str) -> tuple[int, int, int] | None:
    match = re.fullmatch(r"#?([0-9a-fA-F]{6})", hex_colour.strip())
    if match is None:
        return None
    value = int(match[1], 16)
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
