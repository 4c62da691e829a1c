"""spooled(): an object copied out of storage and hashed on the way, in bounded memory."""

from __future__ import annotations

import gc
import hashlib
import tracemalloc
from collections.abc import Callable

from imagepipe.domain.spool import SPOOL_IN_MEMORY, spooled
from tests.unit.fakes import FixedClock, InMemoryStorage

MIB = 1 << 20
KEY = "uploads/img-1"


def storage_with(data: bytes) -> InMemoryStorage:
    storage = InMemoryStorage(FixedClock())
    storage.put(KEY, data)
    return storage


def traced_peak(work: Callable[[], object]) -> int:
    """The most Python memory `work` held at once beyond what was held before it (bytes)."""
    gc.collect()
    tracemalloc.start()
    try:
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def test_a_small_object_comes_back_whole_with_its_size_and_sha256() -> None:
    # Given a small object
    data = bytes(range(256)) * 10
    storage = storage_with(data)

    # When it is spooled
    with spooled(storage, KEY) as found:
        # Then its file holds the bytes from the start, and its size and hash are the bytes'
        assert found is not None
        assert found.file.read() == data
        assert (found.size, found.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_a_missing_object_is_none() -> None:
    # Given an empty bucket / When a key is spooled / Then there is nothing
    with spooled(InMemoryStorage(FixedClock()), KEY) as found:
        assert found is None


def test_the_file_is_closed_on_leaving_the_block() -> None:
    # Given an object larger than what is kept in memory (so it went to disk)
    storage = storage_with(b"\x01" * (SPOOL_IN_MEMORY + MIB))

    # When it is spooled and the block left
    with spooled(storage, KEY) as found:
        assert found is not None
        file = found.file

    # Then its file is closed (and, unlinked from the start, gone)
    assert file.closed


def test_spooling_and_hashing_64_mib_takes_a_bounded_amount_of_memory() -> None:
    # Given a 64 MiB object (allocated before the measure starts: the bucket's, not ours)
    data = bytes(range(256)) * (64 * MIB // 256)
    storage = storage_with(data)
    expected = hashlib.sha256(data).hexdigest()
    result: list[str] = []

    def spool_and_hash() -> None:
        with spooled(storage, KEY) as found:
            assert found is not None
            result.append(found.sha256)

    # When it is spooled and hashed under tracemalloc
    peak = traced_peak(spool_and_hash)

    # Then the hash is right, and what it held at once is the in-memory spool, its copy on
    # rolling over to disk and a chunk in flight: far below the object's size
    assert result == [expected]
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB"
    # And the measure does see such buffers: reading the object whole costs its size
    whole = traced_peak(lambda: b"".join(storage_chunks(storage)))
    assert whole >= 64 * MIB


def storage_chunks(storage: InMemoryStorage) -> list[bytes]:
    class Collect:
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def write(self, data: bytes, /) -> int:
            self.chunks.append(data)
            return len(data)

    sink = Collect()
    storage.download(KEY, sink)
    return sink.chunks
