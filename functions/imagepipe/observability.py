"""Powertools logger, tracer and metrics shared by every function (service name and metrics
namespace come from POWERTOOLS_* variables set in template.yaml).

The tracer is Powertools' Tracer with the X-Ray SDK when tracing is on (Tracing: Active in the
template: on AWS, every function), as Powertools decides it (not POWERTOOLS_TRACE_DISABLED, in
Lambda, not SAM local). When it is off (the local stack, the tests, POWERTOOLS_TRACE_DISABLED on
AWS), the same Tracer gets a provider that does nothing, so the X-Ray SDK is never imported: its
recorder, botocore patches and, outside Lambda, two botocore X-Ray clients made at import cost
every cold start ~100-200 ms for no trace (Powertools' own disabled Tracer still loads it)."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

# An invocation that adds no metric (a 404, a skipped event) is normal here: Powertools would
# print a UserWarning to the function's log for each one (its documentation's own remedy).
warnings.filterwarnings("ignore", message="No application metrics to publish")


class _NoSegment(BaseSegment):
    """The (sub)segment of a tracer that is off: every call does nothing."""

    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        pass


class NoTracingProvider(BaseProvider):
    """A Powertools tracing provider for when tracing is off: no X-Ray SDK, nothing recorded."""

    @contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(
        self, name: Any = None, **kwargs: Any
    ) -> AsyncIterator[BaseSegment]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass


def tracing_enabled() -> bool:
    """Whether Powertools' Tracer would trace here (its own rule, read from the environment)."""
    return not Tracer._is_tracer_disabled()


def new_tracer() -> Tracer:
    """Powertools' Tracer over the X-Ray SDK when tracing is on, else over NoTracingProvider."""
    if tracing_enabled():
        return Tracer()
    return Tracer(disabled=True, auto_patch=False, provider=NoTracingProvider())


logger = Logger()
tracer = new_tracer()
metrics = Metrics()
