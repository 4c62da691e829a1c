"""The local stack as a user runs it: `imagepipe local` in its own process, on free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningStack:
    api: str
    aws: str
    log: Path


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    api_port, aws_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("stack") / "imagepipe-local.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [
        sys.executable,
        "-m",
        "imagepipe.cli",
        "local",
        "--api-port",
        str(api_port),
        "--aws-port",
        str(aws_port),
        "--max-visibility-timeout",
        "2",
    ]
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    running = RunningStack(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{aws_port}", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the local stack exited:\n{log.read_text()}")
            try:
                if requests.get(f"{running.api}/", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local stack did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
