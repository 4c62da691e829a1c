"""Faults lose nothing: with 30 % of the functions' AWS calls failing (`imagepipe local
--fault-rate 0.3`), once before they reach AWS and once applied and then answered 5xx, 30
uploads all end `completed`; nothing is stuck, orphaned, duplicated or left in a queue.

The processing timeout is a minute (the sweeper runs every 20 s): an upload whose Ingest failed
past its retries gets its event again from the sweeper, as on AWS after 15 minutes."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from imagepipe_local.template import Template
from tests.e2e.conftest import RunningStack, local_only, local_stack, photo_file

pytestmark = [pytest.mark.e2e, local_only]

UPLOADS = 30
CLIENTS = 6
RATE = 0.3
SETTLE_SECONDS = 300
PROCESSING_TIMEOUT = 60
DRAIN_SECONDS = 60


def client() -> requests.Session:
    """A client that retries server errors with backoff, as an SDK or Uppy would: the API's
    own functions meet the faults too, and a 5xx is theirs to retry."""
    session = requests.Session()
    retry = Retry(
        total=6,
        backoff_factor=0.2,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=None,  # POST /uploads too: a presign is safe to repeat
        raise_on_status=False,
    )
    session.mount("http://", HTTPAdapter(max_retries=retry))
    return session


def upload(stack: RunningStack, http: requests.Session, path: Path, n: int) -> str:
    data = path.read_bytes()
    spec = {
        "filename": path.name,
        "contentType": "image/jpeg",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    presigned = http.post(
        f"{stack.api}/uploads", json={"sessionId": f"fault-{n % 5}", "files": [spec]}, timeout=60
    )
    assert presigned.status_code == 200, presigned.text
    (entry,) = presigned.json()["uploads"]
    target = entry["upload"]
    posted = http.post(
        target["url"], data=target["fields"], files={"file": (path.name, data)}, timeout=60
    )
    assert posted.status_code in (200, 201, 204), posted.text
    return str(entry["imageId"])


def settle(stack: RunningStack, http: requests.Session, ids: list[str]) -> dict[str, str]:
    statuses: dict[str, str] = {}
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        for image_id in ids:
            if statuses.get(image_id) not in ("completed", "failed"):
                response = http.get(f"{stack.api}/images/{image_id}", timeout=30)
                statuses[image_id] = response.json().get("status", str(response.status_code))
        if all(s in ("completed", "failed") for s in statuses.values()):
            break
        time.sleep(1)
    return statuses


def queued(stack: RunningStack) -> dict[str, int]:
    """Messages still in each of the template's queues (visible or in flight)."""
    sqs, template = stack.client("sqs"), Template.load()
    counts = {}
    for logical_id in template.of_type("AWS::SQS::Queue"):
        url = sqs.get_queue_url(QueueName=template.physical_name(logical_id))["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        counts[logical_id] = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
    return counts


def job_messages_left(stack: RunningStack) -> dict[str, int]:
    """The job queues once they have drained (or what is left after DRAIN_SECONDS)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        left = {k: n for k, n in queued(stack).items() if k != "IngestDeadLetterQueue"}
        if set(left.values()) == {0} or time.monotonic() > deadline:
            return left
        time.sleep(1)


def image_records(stack: RunningStack) -> list[dict[str, Any]]:
    dynamodb = stack.client("dynamodb")
    table = Template.load().physical_name("ImagesTable")
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        items += [i for i in page["Items"] if i["pk"]["S"].startswith("image#")]
    return items


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("fault-photos")
    return [photo_file(directory, f"fault-{n}.jpg", 300 + n) for n in range(UPLOADS)]


@pytest.fixture(params=["before", "after"])
def faulty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[RunningStack, Path]]:
    log = tmp_path / "imagepipe-local.log"
    extra = (
        *("--fault-rate", str(RATE), "--fault-mode", request.param, "--fault-seed", "12"),
        *("--processing-timeout", str(PROCESSING_TIMEOUT)),
    )
    with local_stack(log, *extra) as running:
        yield running, log


def test_thirty_uploads_under_thirty_percent_faults_all_complete(
    faulty: tuple[RunningStack, Path], photos: list[Path]
) -> None:
    stack, log = faulty
    http = client()
    # Given 30 distinct photos uploaded by 6 clients into 5 sessions, while 30 % of the
    # functions' calls to AWS fail
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        ids = list(pool.map(lambda n: upload(stack, http, photos[n], n), range(UPLOADS)))

    # When the pipeline has had its time
    statuses = settle(stack, http, ids)

    # Then every image completed: none stuck, none failed
    assert sorted(statuses.values()) == ["completed"] * UPLOADS, statuses
    # And there is one image record per upload, no pending leftover from a retried presign
    records = image_records(stack)
    assert len(records) == UPLOADS, [r["status"]["S"] for r in records]
    # And every job was handled: the job queues drain (a job message sent twice, when its
    # SendMessage was applied and then answered 5xx, is handled and changes nothing) and no
    # job dead-letter queue holds one (an Ingest event past Lambda's retries is kept in
    # IngestDeadLetterQueue, alarmed, while the sweeper gets its image through)
    left = job_messages_left(stack)
    assert set(left.values()) == {0}, left
    # And the bucket agrees with the tables: no orphan, no missing object, no staging leftover
    audited = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "imagepipe_local.cli", "audit", "--endpoint", stack.aws],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert audited.returncode == 0, audited.stdout + audited.stderr
    # And faults really were injected
    assert "injecting faults into 30% of the functions' AWS calls" in log.read_text()


def test_the_stack_reports_the_faults_it_injected(tmp_path: Path, photos: list[Path]) -> None:
    # Given a stack injecting faults, used for one upload
    log = tmp_path / "imagepipe-local.log"
    with local_stack(log, "--fault-rate", "0.5", "--fault-seed", "3") as stack:
        image_id = upload(stack, client(), photos[0], 0)
        settle(stack, client(), [image_id])
    # When it stops, Then it says how many of the functions' calls failed
    summary = re.search(r"faults: (\d+) of (\d+) function calls to AWS failed", log.read_text())
    assert summary is not None, log.read_text()
    injected, calls = int(summary[1]), int(summary[2])
    assert calls > 10
    assert 0.25 < injected / calls < 0.75
