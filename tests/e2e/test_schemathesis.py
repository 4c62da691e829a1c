"""Schemathesis against the local stack, from the committed openapi.json: generated valid and
invalid requests to every operation find no server error, no response outside the document
(status, content type, body schema) and no invalid request accepted. Bounded (30 examples per
operation, a fixed seed, no stateful phase) so that it is the same run every time. The
multipart routes are given real open uploads to work on (made before the run), or every
generated request would be a 404 about an unknown image."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, RunningStack, local_only

pytestmark = [pytest.mark.e2e, local_only]

# Left out, on purpose:
# - positive_data_acceptance: the document cannot say "sessionId in the body or the
#   X-Session-Id header" (OpenAPI has no constraint across body and header), nor that a
#   nextToken is an opaque value only this API mints; both are refused with a 400 and a code.
# - unsupported_method: API Gateway answers a method no route has with 404 {"message":
#   "Not Found"}, and the local stack answers as API Gateway does.
EXCLUDED = "positive_data_acceptance,unsupported_method"
EXPECTED_STRICTER = {"- POST /uploads/{imageId}/complete", "- POST /uploads/{imageId}/parts"}
SEED = "20261203"


def open_multipart_upload(stack: RunningStack) -> str:
    """A pending image with an open multipart upload (no byte sent): its id."""
    spec = {
        "filename": "large.png",
        "contentType": "image/png",
        "size": 20_000_000,
        "sha256": hashlib.sha256(os.urandom(32)).hexdigest(),
    }
    response = stack.http.post(
        f"{stack.api}/uploads", json={"sessionId": "schemathesis", "files": [spec]}, timeout=10
    )
    entry = response.json()["uploads"][0]
    assert entry["upload"]["method"] == "MULTIPART", entry
    return str(entry["imageId"])


def test_generated_requests_find_no_server_error_and_nothing_undocumented(
    stack: RunningStack, tmp_path: Path
) -> None:
    # Given the committed OpenAPI document and the running stack, with two open multipart
    # uploads: one for the abort route (its first 204 ends it), one for the others
    (tmp_path / "schemathesis.toml").write_text(
        "[[operations]]\n"
        'include-name = "DELETE /uploads/{imageId}"\n'
        f'parameters = {{ imageId = "{open_multipart_upload(stack)}" }}\n'
        "[[operations]]\n"
        'include-path-regex = "^/uploads/\\\\{imageId\\\\}/"\n'
        f'parameters = {{ imageId = "{open_multipart_upload(stack)}" }}\n'
    )
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        str(ROOT / "openapi.json"),
        "--url",
        stack.api,
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "30",
        "--seed",
        SEED,
        "--request-timeout",
        "30",
        "--report-dir",
        str(tmp_path),
    ]
    # When schemathesis generates and sends its requests
    run = subprocess.run(  # noqa: S603 - our own command line
        command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    # Then it finds nothing
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert re.search(r"\d+ generated, \d+ passed", run.stdout), run.stdout[-6000:]
    # And the one warning it may give is that the multipart routes refuse most generated
    # bodies: which part numbers and sizes are valid depends on the upload (its size, its
    # part size), which no schema can say. Any other warning is worth a look.
    warnings = run.stdout.partition("WARNINGS")[2].partition("SUMMARY")[0]
    for line in warnings.splitlines():
        if line.strip().startswith("- "):
            assert line.strip() in EXPECTED_STRICTER, warnings
    assert "Missing test data" not in warnings, warnings
