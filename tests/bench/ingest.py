"""Ingest's memory on a large upload: hashing a 256 MiB object streamed through S3Storage into
spooled() (imagepipe.domain.spool), against the read-all path it replaced (the whole body in
memory, then hashed).

The object lives in moto's ThreadedMotoServer, run in a process of its own so its memory is not
counted; each path runs in a fresh interpreter (`python -m tests.bench.ingest PATH ...`) whose
peak RSS (VmHWM) is its own, measured after boto3 and imagepipe are imported and the client made.

    .venv/bin/python -m tests.bench --only ingest      this measurement alone"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from tests.bench import ROOT
from tests.bench.jobs import current_rss_mib, peak_rss_mib

MIB = 1 << 20
SIZE = 256 * MIB
PART = 8 * MIB  # the multipart part size uploads default to
BUCKET = "bench-ingest"
KEY = "uploads/bench-256mib"
PATHS = ("streamed", "read-all")
# The streamed path may grow by the in-memory spool, a chunk in flight and the HTTP buffers.
MAX_STREAMED_GROWTH_MIB = 32.0
HEADING = "## Ingest: hashing a 256 MiB upload"

_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]))
server.start()
print("ready", flush=True)
sys.stdin.read()  # until the parent closes it
server.stop()
"""
_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class PathRun:
    path: str
    rss_before_mib: float
    rss_peak_mib: float
    seconds: float
    sha256: str


@dataclass(frozen=True)
class PathSummary:
    path: str
    rss_before_mib: float  # max over the runs
    rss_peak_mib: float  # max over the runs
    seconds: float  # median
    hash_ok: bool  # every run found the object's SHA-256

    @property
    def growth_mib(self) -> float:
        return self.rss_peak_mib - self.rss_before_mib


# --- the child: one path, one fresh interpreter ---------------------------------------------


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def run_path(path: str, endpoint: str) -> PathRun:
    from imagepipe.adapters.s3 import S3Storage
    from imagepipe.domain.spool import spooled

    client = _client(endpoint)
    storage = S3Storage(BUCKET, lambda: client)
    storage.size(KEY)  # the connection made and botocore's models loaded before measuring
    rss_before = current_rss_mib()
    started = time.perf_counter()
    if path == "streamed":
        with spooled(storage, KEY) as found:
            assert found is not None
            digest = found.sha256
    else:
        # What Ingest did before: S3Storage.read (the body read whole), then the hash.
        data = client.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
        digest = hashlib.sha256(data).hexdigest()
        del data
    seconds = time.perf_counter() - started
    return PathRun(path, rss_before, peak_rss_mib(), seconds, digest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.ingest")
    parser.add_argument("path", choices=PATHS)
    parser.add_argument("endpoint")
    args = parser.parse_args(argv)
    json.dump(asdict(run_path(args.path, args.endpoint)), sys.stdout)
    sys.stdout.write("\n")
    return 0


# --- the parent: the server, the object, the runs ---------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    return {**os.environ, **_FAKE_AWS, "PYTHONPATH": str(ROOT)}


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's ThreadedMotoServer in a process of its own; yields its endpoint."""
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", _SERVER, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # a log line per request
        text=True,
        env=_env(),
    )
    try:
        assert server.stdout is not None
        # moto announces itself first; "ready" once it listens.
        if "ready" not in (line.strip() for line in iter(server.stdout.readline, "")):
            msg = "moto server did not start"
            raise RuntimeError(msg)
        yield f"http://127.0.0.1:{port}"
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class _Pattern:
    """SIZE bytes that are not one repeated block, produced as read (the parent never holds
    them), hashed on the way."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._block = hashlib.sha256(b"imagepipe").digest() * (MIB // 32)
        self._count = 0
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        out = bytearray()
        while len(out) < size:
            self._count += 1
            out += self._count.to_bytes(8, "big") + self._block[: MIB - 8]
        chunk = bytes(out[:size])
        self._left -= len(chunk)
        self.hash.update(chunk)
        return chunk


def upload(endpoint: str, size: int) -> str:
    """Put the object with multipart parts of PART bytes; its SHA-256."""
    from boto3.s3.transfer import TransferConfig

    for name, value in _FAKE_AWS.items():
        os.environ.setdefault(name, value)
    client = _client(endpoint)
    client.create_bucket(Bucket=BUCKET)
    body = _Pattern(size)
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=1)
    client.upload_fileobj(body, BUCKET, KEY, Config=config)
    return body.hash.hexdigest()


def _run(path: str, endpoint: str) -> PathRun:
    completed = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tests.bench.ingest", path, endpoint],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=_env(),
    )
    return PathRun(**json.loads(completed.stdout))


def bench_ingest(
    repeat: int, progress: Callable[[str], None], size: int = SIZE
) -> list[PathSummary]:
    with moto_server() as endpoint:
        progress(f"ingest: uploading {size // MIB} MiB to moto in {PART // MIB} MiB parts")
        expected = upload(endpoint, size)
        summaries = []
        for path in PATHS:
            runs = []
            for attempt in range(1, repeat + 1):
                progress(f"ingest: {path}, run {attempt}/{repeat}")
                runs.append(_run(path, endpoint))
            summaries.append(
                PathSummary(
                    path=path,
                    rss_before_mib=max(r.rss_before_mib for r in runs),
                    rss_peak_mib=max(r.rss_peak_mib for r in runs),
                    seconds=statistics.median(r.seconds for r in runs),
                    hash_ok=all(r.sha256 == expected for r in runs),
                )
            )
    return summaries


_WHAT = {
    "streamed": "now: `S3Storage.download` (1 MiB chunks) into `spooled()`, hashed on the way",
    "read-all": "before: `get_object` body read whole, then `hashlib.sha256`",
}


def render_ingest(summaries: list[PathSummary], repeat: int, elapsed: float) -> str:
    streamed = next(s for s in summaries if s.path == "streamed")
    passed = streamed.growth_mib <= MAX_STREAMED_GROWTH_MIB and all(s.hash_ok for s in summaries)
    method = (
        f"`python -m tests.bench --only ingest` (run time {elapsed:.0f} s). A 256 MiB object, "
        f"uploaded in {PART // MIB} MiB parts to moto's ThreadedMotoServer in a process of its "
        "own (its memory is not counted), is hashed by each path in a fresh interpreter, boto3 "
        "and imagepipe imported and the client connected before the measure. Peak RSS: VmHWM, "
        f"the highest of {repeat} runs; seconds: the median (moto over loopback, not S3)."
    )
    lines = [
        HEADING,
        "",
        method,
        "",
        "| Path | What | RSS before MiB | Peak RSS MiB | Growth MiB | Seconds | SHA-256 |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.path} | {_WHAT[s.path]} | {s.rss_before_mib:.0f} | {s.rss_peak_mib:.0f} | "
            f"{s.growth_mib:.0f} | {s.seconds:.2f} | {'ok' if s.hash_ok else 'WRONG'} |"
        )
    verdict = "PASS" if passed else "FAIL"
    target = (
        f"**{verdict}**: the streamed path grows by at most {MAX_STREAMED_GROWTH_MIB:.0f} MiB "
        "whatever the upload's size (the file goes to /tmp past the in-memory spool), and "
        "every run found the object's SHA-256."
    )
    lines += ["", target, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
