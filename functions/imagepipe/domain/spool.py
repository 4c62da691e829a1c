"""An object copied out of storage into a local temporary file and hashed on the way, so that
an upload of any size is verified and decoded in bounded memory.

The file stays in memory up to SPOOL_IN_MEMORY, then moves to disk (Lambda's /tmp: the
template gives each function that spools enough ephemeral storage for the largest upload). It
is an unlinked file, deleted when closed, and freed by the kernel if the process dies first."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from imagepipe.domain.ports import ObjectStorage

# Thumbnails, variants and most photos stay in memory; larger files go to disk.
SPOOL_IN_MEMORY = 4 << 20


@dataclass(frozen=True)
class Spooled:
    file: IO[bytes]  # positioned at its start
    size: int
    sha256: str  # hex


class _Hashing:
    """A sink writing through to the file while counting and hashing what passes."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self._file.write(data)


@contextmanager
def spooled(storage: ObjectStorage, key: str) -> Iterator[Spooled | None]:
    """The object's bytes in a temporary file with their size and SHA-256, or None when the
    object does not exist; the file is removed on leaving the block."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, mode="w+b") as file:
        sink = _Hashing(file)
        if not storage.download(key, sink):
            yield None
            return
        file.seek(0)
        yield Spooled(file=file, size=sink.size, sha256=sink.hash.hexdigest())
