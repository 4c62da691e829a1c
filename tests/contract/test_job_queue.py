"""JobQueue: each processing job reaches its own queue, as its worker will parse it."""

from __future__ import annotations

import pytest

from imagepipe.domain.model import JobKind
from imagepipe.pipeline.messages import JobBody
from tests.contract.probes import JOB_QUEUES, QueueUnderTest


# The kinds Ingest and the sweeper send, each to its queue (a reindex job is sent by
# `imagepipe reindex`, to MetadataQueue: tests/e2e/test_search.py).
@pytest.mark.parametrize("kind", list(JOB_QUEUES))
def test_a_job_arrives_once_on_its_own_queue(jobs: QueueUnderTest, kind: JobKind) -> None:
    # Given nothing sent yet

    # When one job of this kind is sent
    jobs.queue.send(kind, "img-1", "2026/03/05")

    # Then its queue holds it, as the worker parses it, and no other queue holds anything
    assert jobs.arrived(kind) == [JobBody(kind=kind, image_id="img-1", key_date="2026/03/05")]
    for other in JOB_QUEUES:
        if other is not kind:
            assert jobs.arrived(other) == []


def test_every_send_is_delivered(jobs: QueueUnderTest) -> None:
    # Given an empty queue

    # When the same job is sent again (Ingest retried) and another image's job follows
    for image_id in ("img-1", "img-1", "img-2"):
        jobs.queue.send(JobKind.VARIANTS, image_id, "2026/03/05")

    # Then nothing is merged: the workers, not the queue, make a repeat harmless
    arrived = jobs.arrived(JobKind.VARIANTS)
    assert sorted(job.image_id for job in arrived) == ["img-1", "img-1", "img-2"]
