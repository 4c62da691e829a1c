"""VariantsFunction: SQS jobs -> small/medium/large x WebP/AVIF."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.domain.jobs import run_variants_job
from imagepipe.domain.model import JobKind
from imagepipe.observability import logger, metrics, tracer
from imagepipe.pipeline.deps import variants_deps
from imagepipe.pipeline.worker import process_jobs


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_jobs(event, context, {JobKind.VARIANTS: run_variants_job}, variants_deps())
