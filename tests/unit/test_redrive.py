"""`imagepipe redrive` finds its queue pairs in the template's redrive policies."""

from __future__ import annotations

import pytest

from imagepipe_local.redrive import DeadLetterPair, dead_letter_pairs, select
from imagepipe_local.template import Template


def test_the_pairs_are_the_job_queues_and_their_dead_letter_queues(template: Template) -> None:
    # Given the template / When its redrive policies are read
    pairs = dead_letter_pairs(template)

    # Then each job queue is paired with its dead-letter queue; Ingest's on-failure
    # destination holds invocation records, not a queue's messages, so it is not among them
    assert set(pairs) == {
        DeadLetterPair(dead_letter="VariantsDeadLetterQueue", source="VariantsQueue"),
        DeadLetterPair(dead_letter="MetadataDeadLetterQueue", source="MetadataQueue"),
    }


@pytest.mark.parametrize("name", ["MetadataQueue", "MetadataDeadLetterQueue"])
def test_either_queue_of_a_pair_selects_it(template: Template, name: str) -> None:
    # Given the template's pairs / When one queue of a pair is named
    chosen = select(dead_letter_pairs(template), name)

    # Then that pair alone is selected
    assert chosen == [DeadLetterPair("MetadataDeadLetterQueue", "MetadataQueue")]


def test_an_unknown_queue_is_refused_with_the_known_ones(template: Template) -> None:
    # Given the template's pairs / When a queue they do not hold is named
    with pytest.raises(ValueError, match="VariantsQueue") as caught:
        select(dead_letter_pairs(template), "IngestDeadLetterQueue")

    # Then the error names every queue that can be redriven
    assert "MetadataDeadLetterQueue" in str(caught.value)
