"""Run a function's handler in-process the way Lambda would: its module from the template's
CodeUri and Handler, its environment from the template, a Lambda context object (and, for the
local stack, one log line per invocation)."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from imagepipe_local import log
from imagepipe_local.iam import acting_as
from imagepipe_local.template import Template

Handler = Callable[[Any, Any], Any]
_ENV_LOCK = threading.RLock()
# A Lambda execution environment runs one invocation at a time, in its own process, and
# handlers rely on it: Powertools' resolver keeps the current event on the module's `app` and
# even on a class attribute (`BaseRouter.current_event`, shared by every resolver of the
# process), the logger its keys. Here one process hosts every function, so invocations that
# would share that state are serialized: one at a time per handler module, and one at a time
# across all functions serving HTTP routes (two resolvers read each other's event otherwise:
# a POST /uploads lost its body while the images API cold-started beside it, and one linked the
# wrong session under 20-way concurrency). Other functions still run side by side.
# The exception: functions behind an SQS event source mapping (the Variants and Metadata
# workers), which Lambda runs concurrently too and whose handlers keep no per-invocation state
# in their modules (a BatchProcessor per call, clients and codecs that are safe to share; the
# Powertools logger, tracer and metrics they share were already shared by every function of the
# process). Serialized, Variants (nine tenths of an image's CPU) ran one batch at a time, and
# the stack could not use a second core on its own (tests/bench/throughput.py).
_INVOCATION_LOCKS: dict[str, threading.RLock] = {}
_INVOCATION_LOCKS_GUARD = threading.Lock()
_HTTP_RESOLVERS = "powertools-http-resolver"


def _invocation_lock(module_key: str) -> threading.RLock:
    with _INVOCATION_LOCKS_GUARD:
        return _INVOCATION_LOCKS.setdefault(module_key, threading.RLock())


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    timeout_ms: int = 10_000
    # When the invocation started running (time.monotonic()); its time counts down from there.
    started: float | None = None

    def get_remaining_time_in_millis(self) -> int:
        if self.started is None:
            return self.timeout_ms
        elapsed_ms = (time.monotonic() - self.started) * 1000
        return max(0, int(self.timeout_ms - elapsed_ms))


class FunctionRunner:
    def __init__(self, template: Template, extra_env: Mapping[str, str] | None = None) -> None:
        self.template = template
        self.extra_env = dict(extra_env or {})
        self._http_functions = frozenset(route.function for route in template.http_routes())
        self._concurrent_functions = (
            frozenset(source.function for source in template.sqs_sources()) - self._http_functions
        )

    def handler(self, logical_id: str) -> Handler:
        code_dir, spec = self.template.function_handler(logical_id)
        if str(code_dir) not in sys.path:
            sys.path.insert(0, str(code_dir))
        module_name, _, function_name = spec.rpartition(".")
        module = importlib.import_module(module_name)
        handler: Handler = getattr(module, function_name)
        return handler

    def environment(self, logical_id: str) -> dict[str, str]:
        env = self.template.function_environment(logical_id)
        env.update(self.extra_env)
        return env

    def process_environment(self) -> dict[str, str]:
        """The union of every function's environment.

        One process hosts every handler here and requests run concurrently, so variables cannot
        be swapped per call: they are set once for all, and two functions giving one variable
        different values is an error (give them distinct names in the template)."""
        merged: dict[str, str] = {}
        for function in self.template.functions:
            for key, value in self.environment(function).items():
                if merged.setdefault(key, value) != value:
                    raise ValueError(
                        f"{function} sets {key}={value!r} but another function sets "
                        f"{merged[key]!r}: the local stack runs them in one process"
                    )
        return merged

    def apply_environment(self) -> None:
        with _ENV_LOCK:
            env = self.process_environment()
            os.environ.update(
                {key: value for key, value in env.items() if os.environ.get(key) != value}
            )

    def invoke(self, logical_id: str, event: Any) -> Any:
        props = self.template.properties(logical_id)
        globals_ = self.template.data.get("Globals", {}).get("Function", {})
        context = LambdaContext(
            function_name=self.template.physical_name(logical_id),
            memory_limit_in_mb=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
            invoked_function_arn=self.template.arn(logical_id),
            timeout_ms=int(props.get("Timeout", globals_.get("Timeout", 3))) * 1000,
        )
        self.apply_environment()
        # Imported under the function's environment, as Lambda does at cold start.
        handler = self.handler(logical_id)
        code_dir, spec = self.template.function_handler(logical_id)
        module_key = f"{code_dir}:{spec.rpartition('.')[0]}"
        if logical_id in self._http_functions:
            module_key = _HTTP_RESOLVERS
        # Every AWS call the handler makes is checked against its template policy (iam.py).
        lock = (
            contextlib.nullcontext()
            if logical_id in self._concurrent_functions
            else _invocation_lock(module_key)
        )
        with lock, acting_as(logical_id, self.template):
            context.started = time.monotonic()
            return handler(event, context)


class LoggingRunner(FunctionRunner):
    """One log line per invocation: function, duration, outcome."""

    def invoke(self, logical_id: str, event: Any) -> Any:
        started = time.perf_counter()
        try:
            result = super().invoke(logical_id, event)
        except Exception as error:
            log.warning(
                "%s %.0f ms error %s: %s",
                logical_id,
                (time.perf_counter() - started) * 1000,
                type(error).__name__,
                error,
            )
            raise
        log.info(
            "%s %.0f ms %s",
            logical_id,
            (time.perf_counter() - started) * 1000,
            _outcome(result),
        )
        return result


def _outcome(result: Any) -> str:
    if isinstance(result, dict):
        if "statusCode" in result:
            return " ".join([str(result["statusCode"]), *_error_code(result)])
        if "batchItemFailures" in result:
            failures = len(result["batchItemFailures"])
            return "ok" if failures == 0 else f"{failures} failed item(s)"
        if "results" in result:
            return ",".join(str(r.get("outcome")) for r in result["results"]) or "nothing"
    return "ok"


def _error_code(response: dict[str, Any]) -> list[str]:
    """The machine-readable code of an error response, so that the line says why."""
    if int(response.get("statusCode") or 0) < 400:
        return []
    try:
        code = json.loads(response.get("body") or "")["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return []
    return [str(code)]
