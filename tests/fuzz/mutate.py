"""Seeded mutations of image files. `mutate(seeds, rng)` picks a seed and applies one to three of
bit flips, interesting bytes, truncations, header dimension edits, splices with another seed,
repeated or deleted ranges; the random.Random given decides everything, so a case is the same
bytes on every run."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Literal

from tests.fuzz.seeds import Seed

_INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF)
_INTERESTING_SIZES = (0, 1, 2, 255, 256, 16_383, 16_384, 65_535, 2**31 - 1, 2**32 - 1)
_JPEG_SOF = re.compile(rb"\xff[\xc0-\xc3\xc5-\xc7\xc9-\xcb\xcd-\xcf]")

Mutation = Callable[[bytes, random.Random, Sequence[Seed]], bytes]
Order = Literal["little", "big"]


def mutate(
    seeds: Sequence[Seed], rng: random.Random, *, real: int | None = None
) -> tuple[str, bytes]:
    """(description, bytes) of one mutated seed. The first `real` seeds (the photos) are picked
    four times out of five: a mutated photo reaches deeper into the decoders than a mutated
    special, which most often stays refused by its header."""
    pool = seeds[:real] if real and rng.random() < 0.8 else seeds
    seed = rng.choice(pool)
    data = seed.data
    applied = []
    for _ in range(rng.choice((1, 1, 1, 1, 2, 3))):
        name, mutation = rng.choice(MUTATIONS)
        data = mutation(data, rng, seeds)
        applied.append(name)
    return f"{seed.name} {'+'.join(applied)}", data


def bit_flips(data: bytes, rng: random.Random, _seeds: Sequence[Seed]) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.choice((1, 2, 4, 8, 32))):
        at = _position(len(out), rng)
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def interesting_bytes(data: bytes, rng: random.Random, _seeds: Sequence[Seed]) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = _position(len(out), rng)
        for i in range(at, min(len(out), at + rng.choice((1, 2, 4)))):
            out[i] = rng.choice(_INTERESTING_BYTES)
    return bytes(out)


def truncate(data: bytes, rng: random.Random, _seeds: Sequence[Seed]) -> bytes:
    if len(data) < 2:
        return data
    # Mostly near the end (a cut-off upload), sometimes inside the header.
    cut = rng.randrange(len(data)) if rng.random() < 0.3 else len(data) - rng.randint(1, 64)
    return data[: max(0, cut)]


def header_dimensions(data: bytes, rng: random.Random, _seeds: Sequence[Seed]) -> bytes:
    """Width and/or height in the format's own header fields set to an edge value."""
    fields = _dimension_fields(data)
    if not fields:
        return data
    out = bytearray(data)
    for offset, size, order in rng.sample(fields, rng.randint(1, min(2, len(fields)))):
        current = int.from_bytes(out[offset : offset + size], order)
        value = rng.choice((*_INTERESTING_SIZES, current * 2, current // 2, current + 1))
        value = value if rng.random() < 0.8 else rng.randrange(1 << (8 * size))
        out[offset : offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, order)
    return bytes(out)


def splice(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    """This file's start with another seed's tail: chunks and boxes from elsewhere."""
    other = rng.choice(seeds).data
    head = data[: rng.randint(0, len(data))]
    return head + other[rng.randint(0, len(other)) :]


def repeat_range(data: bytes, rng: random.Random, _seeds: Sequence[Seed]) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    piece = data[start : start + rng.randint(1, 512)]
    at = rng.randint(0, len(data))
    return data[:at] + piece * rng.choice((1, 2, 16)) + data[at:]


def delete_range(data: bytes, rng: random.Random, _seeds: Sequence[Seed]) -> bytes:
    if not data:
        return data
    start = _position(len(data), rng)
    return data[:start] + data[start + rng.randint(1, 256) :]


MUTATIONS: tuple[tuple[str, Mutation], ...] = (
    ("bitflip", bit_flips),
    ("bytes", interesting_bytes),
    ("truncate", truncate),
    ("dims", header_dimensions),
    ("dims", header_dimensions),
    ("splice", splice),
    ("repeat", repeat_range),
    ("delete", delete_range),
)


def _position(length: int, rng: random.Random) -> int:
    # Headers decide most of a decoder's paths: half of the positions fall in the first 512 bytes.
    if rng.random() < 0.5:
        return rng.randrange(min(length, 512))
    return rng.randrange(length)


def _dimension_fields(data: bytes) -> list[tuple[int, int, Order]]:
    """(offset, size, byte order) of each width or height field found in data's header."""
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        return [(16, 4, "big"), (20, 4, "big")]
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        fields: list[tuple[int, int, Order]] = [(6, 2, "little"), (8, 2, "little")]
        at = data.find(b"\x2c", 13)
        if at > 0 and len(data) >= at + 9:
            fields += [(at + 5, 2, "little"), (at + 7, 2, "little")]
        return fields
    if data.startswith(b"\xff\xd8"):
        match = _JPEG_SOF.search(data)
        if match and len(data) >= match.start() + 9:
            return [(match.start() + 5, 2, "big"), (match.start() + 7, 2, "big")]
        return []
    if data.startswith(b"RIFF") and len(data) >= 30:
        kind = data[12:16]
        if kind == b"VP8X":
            return [(24, 3, "little"), (27, 3, "little")]
        if kind == b"VP8 ":
            return [(26, 2, "little"), (28, 2, "little")]
        if kind == b"VP8L":
            return [(21, 2, "little"), (22, 2, "little")]
        return []
    # AVIF and HEIC: every image spatial extent box ('ispe': version/flags, width, height).
    boxes: list[tuple[int, int, Order]] = []
    for match in re.finditer(rb"ispe", data):
        if len(data) >= match.end() + 12:
            boxes += [(match.end() + 4, 4, "big"), (match.end() + 8, 4, "big")]
    return boxes
