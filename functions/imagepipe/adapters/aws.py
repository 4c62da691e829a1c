"""AWS client factories. Clients are created on first use (never at import) and cached per
process, so a warm Lambda reuses them; endpoints honour AWS_ENDPOINT_URL (the local stack).

They are botocore's clients (boto3's are the same class; boto3 only adds resources and S3
transfer helpers, none of which the functions use, for ~30 ms of every cold start), typed with
the mypy_boto3 stubs."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_rekognition import RekognitionClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3vectors import S3VectorsClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

# Every client (pynamodb's and Powertools' included) retries throttling, 5xx and dropped
# connections the same way: 5 attempts in all, exponential backoff with jitter. Legacy mode on
# purpose: standard mode adds a per-client retry quota (a retry costs 5 tokens, a success gives
# 1 back) that switches retries off once more than about 1 call in 6 fails, and a warm Lambda
# keeps its client: at 30 % injected faults the presign function's quota stayed empty and 21 of
# its requests failed on the first error, unretried. Every write here is idempotent or
# conditional, so retrying through a bad minute is safe; Lambda's timeout bounds it.
MAX_ATTEMPTS = 5
RETRIES = {"mode": "legacy", "total_max_attempts": MAX_ATTEMPTS}
SDK_CONFIG = Config(retries=RETRIES)  # type: ignore[arg-type]
# SigV4 for presigned POSTs (their checksum condition needs it).
_S3_CONFIG = SDK_CONFIG.merge(Config(signature_version="s3v4"))
# Regional virtual-hosted URLs (<bucket>.s3.<region>.amazonaws.com): the global endpoint answers
# a new bucket outside us-east-1 with a 307, which breaks a browser's cross-origin POST.
_AWS_S3_CONFIG = _S3_CONFIG.merge(Config(s3={"addressing_style": "virtual"}))


_sessions = threading.local()


def botocore_session() -> botocore.session.Session:
    """The botocore session of this thread, shared by every client made in it (pynamodb's
    included): each session loads and parses the endpoints file, and each service's model, once
    (~60-150 ms of CPU per session); a session may not be shared across threads."""
    session: botocore.session.Session | None = getattr(_sessions, "botocore", None)
    if session is None:
        session = _sessions.botocore = botocore.session.get_session()
    return session


def _client(service: str, region: str, config: Config, **kwargs: Any) -> Any:
    return botocore_session().create_client(service, region_name=region, config=config, **kwargs)


@cache
def s3_client(region: str) -> S3Client:
    emulated = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    # An emulator's endpoint (the local stack) keeps path-style addressing.
    config = _S3_CONFIG if emulated else _AWS_S3_CONFIG
    return cast("S3Client", _client("s3", region, config))


@cache
def sqs_client(region: str) -> SQSClient:
    return cast("SQSClient", _client("sqs", region, SDK_CONFIG))


@cache
def rekognition_client(region: str) -> RekognitionClient:
    return cast("RekognitionClient", _client("rekognition", region, SDK_CONFIG))


@cache
def s3vectors_client(region: str) -> S3VectorsClient:
    return cast("S3VectorsClient", _client("s3vectors", region, SDK_CONFIG))


@cache
def bedrock_client(region: str) -> BedrockRuntimeClient:
    return cast("BedrockRuntimeClient", _client("bedrock-runtime", region, SDK_CONFIG))


@cache
def events_client(region: str) -> EventBridgeClient:
    return cast("EventBridgeClient", _client("events", region, SDK_CONFIG))


@cache
def secrets_client(region: str) -> SecretsManagerClient:
    return cast("SecretsManagerClient", _client("secretsmanager", region, SDK_CONFIG))


@cache
def connections_client(endpoint_url: str, region: str) -> ApiGatewayManagementApiClient:
    """The WebSocket API's management endpoint (https://{api}.execute-api.{region}.amazonaws.com
    /{stage} on AWS, the local stack's own port locally): explicit, whatever AWS_ENDPOINT_URL
    says, since it is not a regional service endpoint."""
    client = _client("apigatewaymanagementapi", region, SDK_CONFIG, endpoint_url=endpoint_url)
    return cast("ApiGatewayManagementApiClient", client)


def reset_clients() -> None:
    connections_client.cache_clear()
    secrets_client.cache_clear()
    events_client.cache_clear()
    s3_client.cache_clear()
    sqs_client.cache_clear()
    rekognition_client.cache_clear()
    s3vectors_client.cache_clear()
    bedrock_client.cache_clear()


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_image_id() -> str:
    return uuid.uuid4().hex
