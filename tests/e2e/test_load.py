"""The local API port under load: 1,000 presigns from 40 concurrent clients, each answered
with its own image (no response carries another request's id, key or checksum), and each
session linked to exactly its own image."""

from __future__ import annotations

import base64
import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack, local_only

pytestmark = [pytest.mark.e2e, local_only]

REQUESTS = 1000
CLIENTS = 40


def presign(api: str, n: int) -> tuple[int, str, dict[str, Any]]:
    sha = hashlib.sha256(f"load-{n}".encode()).hexdigest()
    spec = {"filename": f"f{n}.jpg", "contentType": "image/jpeg", "size": 1000 + n, "sha256": sha}
    response = requests.post(
        f"{api}/uploads", json={"sessionId": f"load-{n}", "files": [spec]}, timeout=60
    )
    assert response.status_code == 200, response.text
    (entry,) = response.json()["uploads"]
    return n, sha, entry


def test_a_thousand_concurrent_presigns_each_get_their_own_answer(stack: RunningStack) -> None:
    # Given 1,000 distinct files, each presigned in its own session by one of 40 clients
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers = list(pool.map(lambda n: presign(stack.api, n), range(REQUESTS)))
    # Then every answer is a new image whose upload is bound to that request's own bytes
    ids = set()
    for n, sha, entry in answers:
        assert entry["isNew"], n
        fields = entry["upload"]["fields"]
        assert fields["key"] == f"uploads/{entry['imageId']}"
        assert fields["x-amz-checksum-sha256"] == base64.b64encode(bytes.fromhex(sha)).decode()
        ids.add(entry["imageId"])
    assert len(ids) == REQUESTS
    # And each session (a sample of 100) lists exactly its own image
    for n, _, entry in answers[:: REQUESTS // 100]:
        listed = requests.get(f"{stack.api}/sessions/load-{n}/images", timeout=30).json()
        assert [i["imageId"] for i in listed["images"]] == [entry["imageId"]], n
