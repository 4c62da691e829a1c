"""Powertools logger, tracer and metrics shared by every function (service name and metrics
namespace come from POWERTOOLS_* variables set in template.yaml)."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

# An invocation that adds no metric (a 404, a skipped event) is normal here: Powertools would
# print a UserWarning to the function's log for each one (its documentation's own remedy).
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger()
tracer = Tracer()
metrics = Metrics()
