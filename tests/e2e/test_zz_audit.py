"""Last of the end-to-end suite (named to run last): after every test above used the shared
local stack (uploads, duplicates, failures, deletes, live updates), `imagepipe audit` finds the
bucket and the tables in agreement."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import RunningStack, local_only
from tests.e2e.test_cli_and_dead_letters import cli

pytestmark = [pytest.mark.e2e, local_only]


def test_the_stack_is_consistent_after_the_whole_suite(stack: RunningStack) -> None:
    # Given the stack every end-to-end test above used
    # When it is audited
    run = cli("audit", "--endpoint", stack.aws)
    # Then nothing is found: no orphan or missing object, no leftover, no dangling link or
    # claim, nothing stuck processing
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("clean: "), run.stdout
