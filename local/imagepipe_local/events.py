"""AWS-shaped events, as API Gateway and `sam local generate-event` make them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, urlencode


def http_api_event(
    *,
    route_key: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    path_parameters: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    jwt_claims: Mapping[str, str] | None = None,
    jwt_scopes: Sequence[str] | None = None,
    raw_body: str | None = None,
    source_ip: str = "192.0.2.10",
    api_id: str = "imagepipe",
    account_id: str = "123456789012",
    region: str = "us-east-1",
    request_id: str | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) proxy event."""
    method = route_key.split(" ", 1)[0]
    now = datetime.now(UTC)
    all_headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "host": f"{api_id}.execute-api.{region}.amazonaws.com",
        "user-agent": "imagepipe-local",
        "x-forwarded-for": source_ip,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    if text is not None:
        all_headers["content-length"] = str(len(text.encode()))
    request_context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": f"{api_id}.execute-api.{region}.amazonaws.com",
        "domainPrefix": api_id,
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": all_headers["user-agent"],
        },
        "requestId": request_id or uuid.uuid4().hex[:16] + "=",
        "routeKey": route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(time.time() * 1000),
    }
    if jwt_claims is not None:
        scopes = None if jwt_scopes is None else list(jwt_scopes)
        request_context["authorizer"] = {"jwt": {"claims": dict(jwt_claims), "scopes": scopes}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": all_headers,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if text is not None:
        event["body"] = text
    return event


def s3_object_created_event(
    *,
    bucket: str,
    key: str,
    size: int,
    etag: str,
    sequencer: str,
    region: str = "us-east-1",
    event_name: str = "ObjectCreated:Post",
    event_time: datetime | None = None,
) -> dict[str, Any]:
    """An S3 notification as Lambda receives it (the key URL-encoded, as S3 sends it)."""
    when = (event_time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": when,
                "eventName": event_name,
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "192.0.2.10"},
                "responseElements": {
                    "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                    "x-amz-id-2": uuid.uuid4().hex,
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "imagepipe-ingest",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3EXAMPLE"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": etag,
                        "sequencer": sequencer,
                    },
                },
            }
        ]
    }


def sqs_event(
    messages: Sequence[Mapping[str, Any]], *, queue_arn: str, region: str = "us-east-1"
) -> dict[str, Any]:
    """An SQS event source mapping batch, from ReceiveMessage results."""
    records = []
    for message in messages:
        attributes = dict(message.get("Attributes") or {})
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
                    "SenderId": attributes.get("SenderId", "AIDAEXAMPLE"),
                    "ApproximateFirstReceiveTimestamp": attributes.get(
                        "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
                    ),
                },
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def scheduled_event(*, rule_arn: str, region: str, account_id: str) -> dict[str, Any]:
    """What an EventBridge schedule rule delivers to its target function."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def websocket_event(
    *,
    route_key: str,
    connection_id: str,
    api_id: str,
    stage: str,
    region: str,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    source_ip: str = "127.0.0.1",
    connected_at: float | None = None,
    disconnect_status: int = 1000,
) -> dict[str, Any]:
    """What API Gateway sends a WebSocket API's $connect / $disconnect integration."""
    now = time.time()
    connect = route_key == "$connect"
    domain = f"{api_id}.execute-api.{region}.amazonaws.com"
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": "CONNECT" if connect else "DISCONNECT",
        "extendedRequestId": uuid.uuid4().hex[:16] + "=",
        "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": int((connected_at or now) * 1000),
        "requestTimeEpoch": int(now * 1000),
        "identity": {"sourceIp": source_ip, "userAgent": (headers or {}).get("user-agent", "")},
        "requestId": uuid.uuid4().hex[:16] + "=",
        "domainName": domain,
        "connectionId": connection_id,
        "apiId": api_id,
    }
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if connect:
        header_map = {"Host": domain, **dict(headers or {})}
        event["headers"] = header_map
        event["multiValueHeaders"] = {k: [v] for k, v in header_map.items()}
        if query:
            event["queryStringParameters"] = dict(query)
            event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    else:
        context["disconnectStatusCode"] = disconnect_status
        context["disconnectReason"] = ""
        event["headers"] = {"Host": domain, "x-api-key": "", "x-restapi": ""}
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    return event
