"""VariantsFunction: SQS jobs -> small/medium/large x WebP/AVIF."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.domain.model import JobKind
from imagepipe.domain.processing import Outcome, run_variants_job
from imagepipe.observability import logger, metrics, tracer
from imagepipe.pipeline.deps import variants_deps
from imagepipe.pipeline.worker import make_worker


def _run(image_id: str, key_date: str | None) -> Outcome:
    return run_variants_job(image_id, key_date=key_date, deps=variants_deps())


_worker = make_worker(JobKind.VARIANTS, _run)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _worker(event, context)
