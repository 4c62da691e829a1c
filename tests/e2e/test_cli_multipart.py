"""`imagepipe upload` of a file above the multipart threshold (16 MiB): sent in parts, and
resumed after an interruption with only the parts S3 lacks, against the local stack."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from imagepipe_local import multipart
from imagepipe_local.client import FAILED, Api
from imagepipe_local.upload import exit_code, upload
from tests.e2e.conftest import RunningStack, imagepipe, large_photo_file, local_only

pytestmark = [pytest.mark.e2e, local_only]

MIB = 1 << 20


def open_uploads(stack: RunningStack, key: str) -> list[dict[str, Any]]:
    listed = stack.s3().list_multipart_uploads(Bucket=stack.bucket, Prefix=key)
    return [u for u in listed.get("Uploads", []) if u["Key"] == key]


def test_a_large_file_is_sent_in_parts_and_completes(stack: RunningStack, tmp_path: Path) -> None:
    # Given a ~20 MiB photo (above the 16 MiB multipart threshold)
    big = large_photo_file(tmp_path, "big.png")
    # When the CLI uploads it
    run = imagepipe("upload", str(big), "--json", "--api", stack.api, "--session", "cli-mp")
    # Then it went in three parts, none skipped, and the pipeline completed it
    assert run.returncode == 0, run.stdout + run.stderr
    (entry,) = json.loads(run.stdout)["files"]
    assert (entry["outcome"], entry["status"], entry["error"]) == ("new", "completed", None)
    assert entry["parts"] == {"total": 3, "sent": 3, "skipped": 0}
    assert len(entry["variants"]) == 6
    # And the image is the file's bytes, and no multipart upload is left open
    image = stack.http.get(f"{stack.api}/images/{entry['imageId']}", timeout=10).json()
    assert image["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert image["size"] == big.stat().st_size
    assert open_uploads(stack, f"uploads/{entry['imageId']}") == []


class Interrupted(Exception):
    """The CLI stopped (killed, Ctrl-C) in the middle of a part."""


def flaky_s3(script: dict[int, list[type[Exception]]], seen: list[str]) -> Callable[..., Any]:
    """The real part PUT, except that the parts named in `script` raise its exceptions first."""
    real = multipart._put

    def put(url: str, *, data: Any, headers: dict[str, str]) -> requests.Response:
        seen.append(url)
        number = int(parse_qs(urlsplit(url).query)["partNumber"][0])
        failures = script.get(number) or []
        if failures:
            data.read(1 << 20)  # a first MiB went out (the bar counted it) before the failure
            raise failures.pop(0)("connection reset")
        return real(url, data=data, headers=headers)

    return put


def test_an_interrupted_upload_resumes_with_only_the_missing_parts(
    stack: RunningStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a ~20 MiB photo, and an S3 connection that drops part 2 once (the CLI retries
    # it) and then the CLI stopped in the middle of part 3
    big = large_photo_file(tmp_path, "resumed.png")
    seen: list[str] = []
    script: dict[int, list[type[Exception]]] = {
        2: [requests.ConnectionError],
        3: [Interrupted],
    }
    monkeypatch.setattr(multipart, "_put", flaky_s3(script, seen))
    monkeypatch.setattr(multipart, "BACKOFF", 0.05)
    # When the CLI's upload runs (in this process) until it is stopped
    with pytest.raises(Interrupted):
        upload([big], api=Api(stack.api), session="cli-mp-resume", timeout=60, progress=False)
    monkeypatch.undo()
    # Then parts 1 and 2 are in the open upload, and part 3 is not
    image_id = urlsplit(seen[0]).path.rsplit("/uploads/", 1)[1]
    key = f"uploads/{image_id}"
    listed = stack.http.get(f"{stack.api}/uploads/{image_id}/parts", timeout=10)
    assert listed.status_code == 200, listed.text
    assert [(p["partNumber"], p["size"]) for p in listed.json()["parts"]] == [
        (1, 8 * MIB),
        (2, 8 * MIB),
    ]
    (open_upload,) = open_uploads(stack, key)
    in_s3 = stack.s3().list_parts(Bucket=stack.bucket, Key=key, UploadId=open_upload["UploadId"])
    assert [p["PartNumber"] for p in in_s3["Parts"]] == [1, 2]

    # When the same command is run again, as a user does after the interruption
    run = imagepipe("upload", str(big), "--json", "--api", stack.api, "--session", "cli-mp-resume")
    # Then the same image is completed, sending part 3 alone
    assert run.returncode == 0, run.stdout + run.stderr
    (entry,) = json.loads(run.stdout)["files"]
    assert entry["imageId"] == image_id
    assert (entry["status"], entry["error"]) == ("completed", None)
    assert entry["parts"] == {"total": 3, "sent": 1, "skipped": 2}
    # And the bytes that arrived are the file's, and nothing is left open
    image = stack.http.get(f"{stack.api}/images/{image_id}", timeout=10).json()
    assert image["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert open_uploads(stack, key) == []


def test_a_part_s3_refuses_fails_the_file_with_s3s_code(
    stack: RunningStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a ~20 MiB photo, and a CLI whose part 2 carries other bytes than the ones it
    # signed (a file changed under it, a corrupting proxy)
    big = large_photo_file(tmp_path, "refused.png")
    real = multipart._put

    def corrupting(url: str, *, data: Any, headers: dict[str, str]) -> requests.Response:
        if parse_qs(urlsplit(url).query)["partNumber"] == ["2"]:
            body = bytearray(data.read())
            body[-1] ^= 0xFF
            return real(url, data=bytes(body), headers=headers)
        return real(url, data=data, headers=headers)

    monkeypatch.setattr(multipart, "_put", corrupting)
    # When the CLI's upload runs
    (outcome,) = upload(
        [big], api=Api(stack.api), session="cli-mp-refused", timeout=30, progress=False
    )
    # Then S3 refused the part with its own code, the file failed with it, and the upload
    # stays open with part 1 (a later run can send the rest)
    assert (outcome.kind, outcome.code) == ("failed", "BadDigest"), outcome.message
    assert exit_code([outcome]) == FAILED
    assert outcome.parts is None
    listed = stack.http.get(f"{stack.api}/uploads/{outcome.image_id}/parts", timeout=10).json()
    assert [p["partNumber"] for p in listed["parts"]] == [1]
