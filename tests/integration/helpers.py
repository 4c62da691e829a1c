"""Helpers of the integration tests: files, presign calls, and counting what AWS holds."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from imagepipe.adapters.dynamodb import DynamoImageRepository, DynamoSessionLinkRepository
from imagepipe.api import deps
from imagepipe.domain import keys
from imagepipe.domain.model import Image, ImageStatus, SessionLink, Thumbnail, Variant
from imagepipe_local.http_api import HttpResponse, LocalHttpApi
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.template import Template


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def spec(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> dict[str, Any]:
    return {
        "filename": name,
        "contentType": content_type,
        "size": len(data),
        "sha256": sha256(data),
    }


def presign(
    api: LocalHttpApi,
    session: str,
    *files: bytes,
    claims: dict[str, str] | None = None,
) -> HttpResponse:
    return api.request(
        "POST",
        "/uploads",
        body={"sessionId": session, "files": [spec(data) for data in files]},
        jwt_claims=claims,
    )


def bucket(template: Template) -> str:
    return template.physical_name("ImagesBucket")


def object_keys(template: Template) -> list[str]:
    s3 = boto3.client("s3", region_name=template.names.region)
    found = s3.list_objects_v2(Bucket=bucket(template)).get("Contents", [])
    return sorted(obj["Key"] for obj in found)


def items(template: Template, logical_id: str) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", region_name=template.names.region)
    return dynamodb.scan(TableName=template.physical_name(logical_id))["Items"]


def images_repo(template: Template) -> DynamoImageRepository:
    return DynamoImageRepository(template.physical_name("ImagesTable"), template.names.region)


def links_repo(template: Template) -> DynamoSessionLinkRepository:
    return DynamoSessionLinkRepository(
        template.physical_name("SessionImagesTable"), template.names.region
    )


def seed_processed_image(
    template: Template,
    *,
    image_id: str,
    tenant: str = "public",
    sessions: tuple[str, ...] = ("s-1",),
    data: bytes = b"original bytes",
) -> Image:
    """What Ingest and the workers leave behind for a completed image: the record with its keys,
    the objects, and the session links."""
    now = datetime.now(UTC)
    date = keys.key_date(now)
    image = Image(
        image_id=image_id,
        tenant=tenant,
        sha256=sha256(data),
        filename="cat.jpg",
        content_type="image/jpeg",
        size=len(data),
        status=ImageStatus.PENDING_UPLOAD,
        created_at=now,
        updated_at=now,
        key_date=date,
    )
    created, is_new = images_repo(template).create(image)
    assert is_new
    variants = [
        Variant(name, fmt, width, width * 3 // 4, 1000, keys.variant_key(date, image_id, name, fmt))
        for name, width in (("small", 640), ("medium", 1024), ("large", 1920))
        for fmt in ("webp", "avif")
    ]
    done = replace(
        created,
        status=ImageStatus.COMPLETED,
        uploaded_at=now,
        processed_at=now,
        width=4000,
        height=3000,
        format="jpeg",
        original_key=keys.original_key(date, image_id, "jpg"),
        thumbnail=Thumbnail(keys.thumbnail_key(date, image_id), 150, 150, b"RIFF....WEBPVP8 "),
        variants=variants,
        metadata={"format": "JPEG"},
    )
    saved = images_repo(template).save(done)
    s3 = boto3.client("s3", region_name=template.names.region)
    for key in [done.original_key, done.thumbnail.key, *(v.key for v in variants)]:  # type: ignore[union-attr]
        s3.put_object(Bucket=bucket(template), Key=str(key), Body=b"x")
    for session in sessions:
        links_repo(template).link(SessionLink(tenant, session, image_id, now))
    return saved


def subscribe(template: Template, endpoint_url: str | None = None) -> str:
    """What an integrator does: a queue, and a rule on the images bus that targets it. Returns
    the queue's URL."""
    region = template.names.region
    sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint_url)
    events = boto3.client("events", region_name=region, endpoint_url=endpoint_url)
    url = sqs.create_queue(QueueName="integrator-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bus = template.physical_name("ImagesEventBus")
    events.put_rule(Name="integrator", EventBusName=bus, EventPattern='{"source": ["imagepipe"]}')
    events.put_targets(Rule="integrator", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def received_events(
    template: Template, url: str, endpoint_url: str | None = None, *, wait: int = 0
) -> list[dict[str, Any]]:
    """The EventBridge events a subscribed queue holds now (each message body is one)."""
    import json

    sqs = boto3.client("sqs", region_name=template.names.region, endpoint_url=endpoint_url)
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
        ).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def api_with(
    aws: Template, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *, secret: str = ""
) -> LocalHttpApi:
    """The images API with these CDN variables (set here, whatever template.yaml gives), and
    allowed to read the CDN's signing key when there is one."""
    for key, value in env.items():
        # Set in the test's environment first, so that it is restored after the test.
        monkeypatch.setenv(key, value)
    template = aws
    if secret:
        data = copy.deepcopy(dict(aws.data))
        policy = data["Resources"]["ImagesApiFunction"]["Properties"]["Policies"][0]
        policy["Statement"].append(
            {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": secret}
        )
        template = Template(data, aws.names)
    # Settings and adapters are made once per warm container: start a cold one.
    deps.reset()
    return LocalHttpApi(FunctionRunner(template, extra_env=env))
