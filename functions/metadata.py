"""MetadataFunction: SQS jobs -> EXIF, colours, hashes, placeholder, tags and the search vector;
reindex jobs -> the tags, description and vector of a completed image made again."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.domain.jobs import run_metadata_job, run_reindex_job
from imagepipe.domain.model import JobKind
from imagepipe.observability import logger, metrics, tracer
from imagepipe.pipeline.deps import metadata_deps
from imagepipe.pipeline.worker import process_jobs


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    jobs = {JobKind.METADATA: run_metadata_job, JobKind.REINDEX: run_reindex_job}
    return process_jobs(event, context, jobs, metadata_deps())
