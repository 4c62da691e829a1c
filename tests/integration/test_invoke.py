"""The local runner gives each function what a Lambda execution environment gives it: one
invocation at a time, while distinct functions run side by side."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.template import Template

STATE = """
import threading
active = {}
peak = {}
guard = threading.Lock()
"""

PROBE = """
import time
from invoke_probe_state import active, guard, peak

def handler(event, context):
    name = context.function_name
    with guard:
        active[name] = active.get(name, 0) + 1
        peak[name] = max(peak.get(name, 0), active[name])
        overlap = sum(active.values())
        peak["all"] = max(peak.get("all", 0), overlap)
    time.sleep(0.05)
    with guard:
        active[name] -= 1
    return {"seen": event["n"]}
"""


MODULES = ("invoke_probe_state", *(f"invoke_probe_{name}" for name in "abcd"))


def _http(path: str) -> dict[str, Any]:
    return {"Api": {"Type": "HttpApi", "Properties": {"Path": path, "Method": "GET"}}}


@pytest.fixture
def probe_runner(tmp_path: Path) -> Iterator[FunctionRunner]:
    """ProbeA and ProbeB: two plain functions; ProbeC and ProbeD: two functions serving HTTP
    routes (each function its own module, but C and D share state in a Powertools resolver)."""
    (tmp_path / "invoke_probe_state.py").write_text(STATE, encoding="utf-8")
    resources: dict[str, Any] = {}
    for name in ("a", "b", "c", "d"):
        (tmp_path / f"invoke_probe_{name}.py").write_text(PROBE, encoding="utf-8")
        props: dict[str, Any] = {
            "CodeUri": str(tmp_path),
            "Handler": f"invoke_probe_{name}.handler",
        }
        if name in ("c", "d"):
            props["Events"] = _http(f"/{name}")
        resources[f"Probe{name.upper()}"] = {
            "Type": "AWS::Serverless::Function",
            "Properties": props,
        }
    yield FunctionRunner(Template({"Resources": resources}))
    for module in MODULES:
        sys.modules.pop(module, None)
    sys.path.remove(str(tmp_path))


def run_together(runner: FunctionRunner, functions: tuple[str, str]) -> list[Any]:
    """Eight threads invoking the two functions at once, four each."""
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def call(n: int) -> None:
        barrier.wait()
        results.append(runner.invoke(functions[n % 2], {"n": n}))

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_one_function_runs_one_invocation_at_a_time_and_two_functions_overlap(
    probe_runner: FunctionRunner,
) -> None:
    # Given eight threads invoking two functions at once
    results = run_together(probe_runner, ("ProbeA", "ProbeB"))

    # Then every call got its own answer, one function never ran two at once, the two did
    probe = sys.modules["invoke_probe_state"]
    assert sorted(r["seen"] for r in results) == list(range(8))
    names = {probe_runner.template.physical_name(f) for f in ("ProbeA", "ProbeB")}
    assert {probe.peak[name] for name in names} == {1}
    assert probe.peak["all"] == 2


def test_two_functions_serving_http_never_run_at_once(probe_runner: FunctionRunner) -> None:
    # Given eight threads invoking two HTTP functions at once (Powertools' resolvers share the
    # current event through a class attribute, so two of them at once read each other's)
    results = run_together(probe_runner, ("ProbeC", "ProbeD"))

    # Then every call got its own answer and no two ran at the same time
    probe = sys.modules["invoke_probe_state"]
    assert sorted(r["seen"] for r in results) == list(range(8))
    assert probe.peak["all"] == 1


def test_the_local_stack_caps_glibcs_malloc_arenas() -> None:
    # Given this machine's C library (glibc on Debian) / When the stack's cap is applied
    from imagepipe_local.stack import limit_malloc_arenas

    # Then glibc accepts it (mallopt answers 1), so the threads created next share two arenas
    assert limit_malloc_arenas() is True
