"""What `imagepipe local` prints: one line per invocation and its own lifecycle, no library
noise; `--verbose` adds the handlers' structured logs; a busy port is one line and exit 1."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import RunningStack, local_only, local_stack

pytestmark = [pytest.mark.e2e, local_only]

NOISE = ("Override settings", "Using Default settings", "UserWarning", "No application metrics")


def a_rejected_and_a_missing_request(stack: RunningStack) -> None:
    rejected = requests.post(
        f"{stack.api}/uploads", json={"sessionId": "s", "files": []}, timeout=30
    )
    assert rejected.status_code == 400
    assert requests.get(f"{stack.api}/images/nope", timeout=30).status_code == 404


def test_the_default_output_is_one_line_per_invocation_and_the_lifecycle(
    tmp_path: Path,
) -> None:
    # Given a stack run as `make run` runs it, answering a rejected and a missing request
    log = tmp_path / "imagepipe-local.log"
    with local_stack(log) as stack:
        a_rejected_and_a_missing_request(stack)
    output = log.read_text()
    # Then each invocation is one line: time, function, duration, status and code
    assert re.search(r"^\d\d:\d\d:\d\d PresignUploadFunction \d+ ms 400 no_files$", output, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d ImagesApiFunction \d+ ms 404 not_found$", output, re.M)
    # And the stack's own lifecycle is there: where it listens, ready, stopping
    assert "HTTP API and demo page on http://127.0.0.1:" in output
    assert "imagepipe local stack ready" in output
    assert "stopping..." in output
    # And nothing else: no library notices, no handler JSON, no traceback
    assert not [n for n in NOISE if n in output], output
    assert "Traceback" not in output
    assert not [line for line in output.splitlines() if line.startswith("{")]


def test_verbose_adds_the_handlers_structured_logs(tmp_path: Path) -> None:
    # Given a stack run with --verbose, answering a rejected request
    log = tmp_path / "imagepipe-local.log"
    with local_stack(log, "--verbose") as stack:
        a_rejected_and_a_missing_request(stack)
    # Then the handler's own JSON log of the rejection is printed too
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    rejected = [r for r in records if r.get("message") == "rejected request"]
    assert rejected
    assert rejected[0]["code"] == "no_files"


def test_a_busy_port_is_one_line_and_a_failure(stack: RunningStack) -> None:
    # Given a running stack, When a second one is started on its API port
    port = stack.api.rsplit(":", 1)[1]
    second = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "imagepipe_local.cli", "local", "--api-port", port],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then it says so in one line and exits non-zero, without a traceback
    assert second.returncode == 1
    assert second.stdout == ""
    assert second.stderr.count("\n") == 1
    assert f"port {port} on 127.0.0.1 is in use" in second.stderr
