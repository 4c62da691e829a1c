"""Drives the processing pipeline on moto: upload through the presigned POST, deliver the S3
notification to Ingest, run the SQS workers until the queues are empty."""

from __future__ import annotations

import io
import random
from typing import Any

import boto3
import requests
from PIL import Image as PILImage

from imagepipe_local.http_api import LocalHttpApi
from imagepipe_local.sources import LocalEventSources
from tests.integration.helpers import spec


def photo_like(
    width: int = 800, height: int = 600, *, seed: int = 1, mode: str = "RGB"
) -> PILImage.Image:
    """A smooth gradient with noise: compresses and resizes like a photo, unlike a flat fill."""
    rng = random.Random(seed)
    image = PILImage.linear_gradient("L").resize((width, height))
    channels = [
        image,
        image.rotate(90).resize((width, height)),
        PILImage.effect_noise((width, height), 40 + rng.randint(0, 20)),
    ]
    rgb = PILImage.merge("RGB", channels)
    if mode == "RGBA":
        alpha = PILImage.linear_gradient("L").resize((width, height))
        rgb.putalpha(alpha)
    return rgb


def encode(image: PILImage.Image, fmt: str = "JPEG", **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def upload(
    api: LocalHttpApi,
    data: bytes,
    *,
    session: str = "s-1",
    name: str = "photo.jpg",
    content_type: str = "image/jpeg",
    declared: bytes | None = None,
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Presign (declaring `declared`'s hash and size, default the data's) and POST the bytes."""
    body = {"sessionId": session, "files": [spec(declared or data, name, content_type)]}
    response = api.request("POST", "/uploads", body=body, jwt_claims=claims)
    assert response.status == 200, response.body
    entry: dict[str, Any] = response.json()["uploads"][0]
    target = entry["upload"]
    if target is not None:
        posted = requests.post(
            target["url"],
            data=target["fields"],
            files={"file": (name, data, content_type)},
            timeout=30,
        )
        assert posted.status_code in (200, 201, 204), posted.text
    return entry


def ingest(sources: LocalEventSources, image_id: str) -> dict[str, Any]:
    event = sources.s3_event_for(f"uploads/{image_id}")
    (result,) = sources.deliver_s3(event)
    return dict(result)


def process(
    api: LocalHttpApi, sources: LocalEventSources, data: bytes, **kwargs: Any
) -> dict[str, Any]:
    """Upload, ingest, run the workers; returns GET /images/{id}."""
    entry = upload(api, data, **kwargs)
    ingest(sources, entry["imageId"])
    sources.drain()
    detail = api.request("GET", f"/images/{entry['imageId']}", jwt_claims=kwargs.get("claims"))
    assert detail.status == 200, detail.body
    result: dict[str, Any] = detail.json()
    return result


def queue_depth(sources: LocalEventSources, logical_id: str) -> int:
    sqs = boto3.client("sqs", region_name=sources.template.names.region)
    attributes = sqs.get_queue_attributes(
        QueueUrl=sources.queue_url(logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
