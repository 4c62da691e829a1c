"""Powertools logger, tracer and metrics shared by every function (service name and metrics
namespace come from POWERTOOLS_* variables set in template.yaml)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
