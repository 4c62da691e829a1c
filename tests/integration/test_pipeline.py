"""The processing pipeline end to end on moto: Ingest, the workers, completion, failures,
duplicates, crashes and deletes while jobs are in flight."""

from __future__ import annotations

import io
import json

import boto3
import pytest
import requests
from PIL import Image as PILImage

from imagepipe_local.http_api import LocalHttpApi
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.sources import LocalEventSources
from imagepipe_local.template import Template
from tests.integration.helpers import bucket, items, object_keys, received_events, subscribe
from tests.integration.pipeline import encode, ingest, photo_like, process, queue_depth, upload


@pytest.fixture
def sources(runner: FunctionRunner) -> LocalEventSources:
    return LocalEventSources(runner)


def test_a_jpeg_goes_all_the_way_to_completed(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given a 2000x1500 JPEG
    data = encode(photo_like(2000, 1500), quality=90)
    # When it is uploaded and processed
    image = process(api, sources, data)
    # Then it is completed with its real dimensions, a thumbnail, 6 variants and metadata
    assert image["status"] == "completed", image["error"]
    assert (image["width"], image["height"]) == (2000, 1500)
    assert image["processedAt"]
    assert image["uploadedAt"]
    assert (image["thumbnail"]["width"], image["thumbnail"]["height"]) == (150, 150)
    assert image["original"]["key"].endswith(f"/original/{image['imageId']}.jpg")
    widths = {(v["name"], v["format"]): v["width"] for v in image["variants"]}
    assert widths == {
        ("small", "webp"): 640,
        ("small", "avif"): 640,
        ("medium", "webp"): 1024,
        ("medium", "avif"): 1024,
        ("large", "webp"): 1920,
        ("large", "avif"): 1920,
    }
    assert image["metadata"]["format"] == "jpeg"
    assert len(image["metadata"]["phash"]) == 16
    # And the record no longer expires: only abandoned pending uploads do
    from tests.integration.helpers import images_repo

    record = images_repo(aws).get(image["imageId"])
    assert record is not None
    assert record.expires_at is None
    # And the objects are exactly: original, thumbnail, 6 variants (staging gone)
    keys = object_keys(aws)
    assert len(keys) == 8
    assert not any(key.startswith("uploads/") for key in keys)
    date = image["original"]["key"].split("/")[1:4]
    assert all(key.startswith("images/" + "/".join(date) + "/") for key in keys)
    # And every variant URL serves its bytes with its content type and a long cache
    s3 = boto3.client("s3")
    for variant in image["variants"]:
        fetched = requests.get(variant["url"], timeout=10)
        assert fetched.status_code == 200
        decoded = PILImage.open(io.BytesIO(fetched.content))
        assert str(decoded.format).lower() == variant["format"]
        assert decoded.size == (variant["width"], variant["height"])
        head = s3.head_object(Bucket=bucket(aws), Key=variant["key"])
        assert head["ContentType"] == f"image/{variant['format']}"
        assert "immutable" in head["CacheControl"]


def test_a_declared_hash_that_differs_fails_with_checksum_mismatch(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given bytes of the declared size but not the declared content
    real = encode(photo_like(300, 200))
    declared = real[:-3] + bytes(b ^ 0xFF for b in real[-3:])
    # When they are uploaded against that declaration, and ingested
    entry = upload(api, real, declared=declared)
    ingest(sources, entry["imageId"])
    # Then the image fails with checksum_mismatch, nothing is kept and no job is queued
    image = api.request("GET", f"/images/{entry['imageId']}").json()
    assert image["status"] == "failed"
    assert image["error"]["code"] == "checksum_mismatch"
    assert object_keys(aws) == []
    assert queue_depth(sources, "VariantsQueue") == queue_depth(sources, "MetadataQueue") == 0


@pytest.mark.parametrize(
    ("data", "content_type", "code"),
    [
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "image/png",
            "unsupported_format",
        ),
        (b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF", "image/jpeg", "unsupported_format"),
        (b"just some text, not an image at all", "image/png", "unsupported_format"),
        (bytes(range(256)) * 40, "image/webp", "unsupported_format"),
    ],
)
def test_bad_files_end_failed_with_their_code_and_leave_nothing(
    api: LocalHttpApi,
    aws: Template,
    sources: LocalEventSources,
    data: bytes,
    content_type: str,
    code: str,
) -> None:
    # Given a file that is no image of a supported format (SVG, PDF, text, noise), declared as one
    # When it is uploaded and ingested
    entry = upload(api, data, content_type=content_type, name="x")
    ingest(sources, entry["imageId"])
    # Then the image fails as an unsupported format, and nothing of it is left in the bucket
    image = api.request("GET", f"/images/{entry['imageId']}").json()
    assert (image["status"], image["error"]["code"]) == ("failed", code)
    assert object_keys(aws) == []


def test_an_upload_larger_than_declared_fails_before_it_is_read(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # moto does not enforce the policy's content-length-range; Ingest checks the size itself
    # Given a small JPEG, declared at its own size
    data = encode(photo_like(300, 200))
    # When it is uploaded with 1000 bytes more than that, and ingested
    entry = upload(api, data + b"\0" * 1000, declared=data)
    ingest(sources, entry["imageId"])
    # Then the image fails with size_mismatch, and nothing of it is left in the bucket
    image = api.request("GET", f"/images/{entry['imageId']}").json()
    assert (image["status"], image["error"]["code"]) == ("failed", "size_mismatch")
    assert object_keys(aws) == []


def test_a_truncated_jpeg_is_corrupt(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given the first 5000 bytes of a JPEG
    data = encode(photo_like(640, 480))[:5000]
    # When they are uploaded and ingested
    entry = upload(api, data)
    ingest(sources, entry["imageId"])
    # Then the image fails as corrupt, and nothing of it is left in the bucket
    image = api.request("GET", f"/images/{entry['imageId']}").json()
    assert (image["status"], image["error"]["code"]) == ("failed", "corrupt_image")
    assert object_keys(aws) == []


def test_a_failed_upload_sent_again_is_a_new_event_and_is_ingested_again(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given a truncated JPEG that was uploaded and ended failed
    data = encode(photo_like(640, 480))[:5000]
    first = upload(api, data)
    ingest(sources, first["imageId"])

    # When the same bytes are presigned again and uploaded: S3 gives the new object's event a
    # new sequencer, so Ingest's idempotency does not take it for the first one
    second = upload(api, data)
    assert second["imageId"] == first["imageId"]
    assert second["status"] == "pending_upload"
    result = ingest(sources, second["imageId"])

    # Then it is ingested again and the image ends final again, nothing left in the bucket
    assert result["results"][0]["outcome"] == "failed"
    image = api.request("GET", f"/images/{first['imageId']}").json()
    assert (image["status"], image["error"]["code"]) == ("failed", "corrupt_image")
    assert object_keys(aws) == []


def test_every_status_change_is_announced_once_on_the_images_bus(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given an integrator's queue subscribed to the images bus by a rule
    url = subscribe(aws)

    # When a good photo goes all the way, a truncated one fails, and the good one is deleted
    good = process(api, sources, encode(photo_like(800, 600, seed=7)))
    bad = upload(api, encode(photo_like(640, 480))[:5000], name="bad.jpg")
    ingest(sources, bad["imageId"])
    assert api.request("DELETE", f"/images/{good['imageId']}").status == 204

    # Then the queue got, once each: Processing then Completed for the good one, Failed with
    # its reason for the bad one, then Deleted; each as EventBridge delivers it
    received = received_events(aws, url)
    seen = [(e["detail"]["imageId"], e["detail-type"]) for e in received]
    assert sorted(seen) == sorted(
        [
            (good["imageId"], "Image Processing"),
            (good["imageId"], "Image Completed"),
            (bad["imageId"], "Image Failed"),
            (good["imageId"], "Image Deleted"),
        ]
    )
    good_events = [e["detail-type"] for e in received if e["detail"]["imageId"] == good["imageId"]]
    assert good_events == ["Image Processing", "Image Completed", "Image Deleted"]
    failed = next(e for e in received if e["detail-type"] == "Image Failed")
    assert failed["source"] == "imagepipe"
    assert failed["detail"]["tenant"] == "public"
    assert failed["detail"]["status"] == "failed"
    assert failed["detail"]["error"]["code"] == "corrupt_image"
    assert failed["detail"]["occurredAt"].endswith("Z")


def test_a_png_claiming_60000_by_60000_is_refused_before_decoding(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given a small PNG whose header claims 60000 by 60000 pixels
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )
    # When it is uploaded and ingested
    entry = upload(api, data, content_type="image/png", name="bomb.png")
    ingest(sources, entry["imageId"])
    # Then the image fails with too_many_pixels, and nothing of it is left in the bucket
    image = api.request("GET", f"/images/{entry['imageId']}").json()
    assert (image["status"], image["error"]["code"]) == ("failed", "too_many_pixels")
    assert object_keys(aws) == []


def test_ten_copies_of_one_s3_event_make_one_record_and_one_message_per_queue(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given an uploaded image and the S3 event for it, delivered ten times
    entry = upload(api, encode(photo_like(400, 300)))
    event = sources.s3_event_for(f"uploads/{entry['imageId']}")
    # When Ingest gets all ten copies
    outcomes = [sources.deliver_s3(json.loads(json.dumps(event)))[0] for _ in range(10)]
    # Then it was ingested once: one record, one job in each queue
    assert outcomes[0]["results"][0]["outcome"] == "processing"
    assert all(o == outcomes[0] for o in outcomes)  # the idempotent result, replayed
    assert queue_depth(sources, "VariantsQueue") == 1
    assert queue_depth(sources, "MetadataQueue") == 1
    records = [i for i in items(aws, "ImagesTable") if i["pk"]["S"].startswith("image#")]
    assert len(records) == 1
    # And a later, different event for the same key (a second upload of the same bytes) is a no-op
    sources.drain()
    assert api.request("GET", f"/images/{entry['imageId']}").json()["status"] == "completed"


def test_a_crash_between_recording_and_enqueueing_converges_on_retry(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given the metadata queue unreachable when Ingest sends its jobs
    entry = upload(api, encode(photo_like(400, 300)))
    sqs = boto3.client("sqs")
    metadata_url = sources.queue_url("MetadataQueue")
    attributes = sqs.get_queue_attributes(QueueUrl=metadata_url, AttributeNames=["All"])[
        "Attributes"
    ]
    sqs.delete_queue(QueueUrl=metadata_url)
    event = sources.s3_event_for(f"uploads/{entry['imageId']}")
    with pytest.raises(Exception, match=r"NonExistentQueue|QueueDoesNotExist"):
        sources.deliver_s3(event)
    # When the queue is back and Lambda retries the same event
    sqs.create_queue(
        QueueName=aws.physical_name("MetadataQueue"),
        Attributes={
            k: v for k, v in attributes.items() if k in ("VisibilityTimeout", "RedrivePolicy")
        },
    )
    sources.deliver_s3(event)
    sources.drain()
    # Then the image completes once, with exactly its objects
    image = api.request("GET", f"/images/{entry['imageId']}").json()
    assert image["status"] == "completed"
    assert len(object_keys(aws)) == 8
    assert not any(key.startswith("uploads/") for key in object_keys(aws))


def test_a_batch_with_one_poison_message_reports_only_that_one(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources, runner: FunctionRunner
) -> None:
    # Given nine ingested images and a poison message, in one SQS batch of ten
    from imagepipe_local.events import sqs_event

    ids = []
    for n in range(9):
        entry = upload(api, encode(photo_like(160, 120, seed=n + 10)), session=f"s-{n}")
        ingest(sources, entry["imageId"])
        ids.append(entry["imageId"])
    messages = [
        {
            "MessageId": f"m-{n}",
            "ReceiptHandle": f"r-{n}",
            "Body": json.dumps({"kind": "metadata", "imageId": image_id}),
        }
        for n, image_id in enumerate(ids)
    ]
    messages.append({"MessageId": "poison", "ReceiptHandle": "r-p", "Body": "{not json"})
    event = sqs_event(messages, queue_arn=aws.arn("MetadataQueue"))
    # When the metadata worker gets it
    response = runner.invoke("MetadataFunction", event)
    # Then nine are done and only the poison one is reported
    assert response == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    for image_id in ids:
        detail = api.request("GET", f"/images/{image_id}").json()
        assert detail["metadata"].get("phash"), image_id


def test_delete_while_jobs_are_in_flight_leaves_nothing(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given an ingested image whose two jobs are still queued
    entry = upload(api, encode(photo_like(800, 600)))
    ingest(sources, entry["imageId"])
    assert queue_depth(sources, "VariantsQueue") == 1
    # When it is deleted, then the jobs run
    assert api.request("DELETE", f"/images/{entry['imageId']}").status == 204
    sources.drain()
    # Then nothing of it is left anywhere
    assert object_keys(aws) == []
    assert items(aws, "ImagesTable") == []
    assert items(aws, "SessionImagesTable") == []


def test_an_upload_for_a_deleted_image_is_removed(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given an image uploaded, then deleted before Ingest ran
    entry = upload(api, encode(photo_like(200, 100)))
    assert api.request("DELETE", f"/images/{entry['imageId']}").status == 204
    # The browser's POST landed after the delete: the S3 event arrives for an unknown image
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket(aws), Key=f"uploads/{entry['imageId']}", Body=b"late bytes")
    # When Ingest gets the event for those late bytes
    ingest(sources, entry["imageId"])
    # Then it removes them: the bucket is empty
    assert object_keys(aws) == []


def _scroll(size: tuple[int, int]) -> bytes:
    """A 12 MP JPEG of extreme aspect ratio (a phone panorama, upright or not) made of tiles of
    the real 12 MP photo."""
    from tests.photos import photo

    with PILImage.open(photo("sunset-12mp.jpg")) as source:
        side = min(size)
        tile = source.convert("RGB").resize((side, side * source.height // source.width))
    canvas = PILImage.new("RGB", size)
    for offset in range(0, max(size), min(tile.size)):
        canvas.paste(tile, (0, offset) if size[1] > size[0] else (offset, 0))
    return encode(canvas, quality=88)


@pytest.mark.parametrize("size", [(600, 20000), (20000, 600)], ids=["tall", "wide"])
def test_a_12_mp_panorama_completes_with_variants_every_format_can_hold(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources, size: tuple[int, int]
) -> None:
    # Given a 600x20000 (or 20000x600) photo: WebP cannot hold more than 16383 px a side
    data = _scroll(size)
    # When it is uploaded and processed
    image = process(api, sources, data, name="scroll.jpg")
    # Then it completes, every variant within 16383 px and at most 4 x its width budget tall,
    # never enlarged, in the photo's aspect ratio
    assert image["status"] == "completed", image["error"]
    budgets = {"small": 640, "medium": 1024, "large": 1920}
    for variant in image["variants"]:
        width, height = variant["width"], variant["height"]
        assert max(width, height) <= 16383
        assert width <= min(budgets[variant["name"]], size[0])
        assert height <= min(4 * budgets[variant["name"]], size[1])
        assert abs(width / height - size[0] / size[1]) < 0.05 * size[0] / size[1]


def test_a_real_12_mp_photo_completes_with_every_variant(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given the real 12 MP photo
    from tests.photos import photo

    data = photo("sunset-12mp.jpg").read_bytes()
    # When it is uploaded and processed
    image = process(api, sources, data, name="sunset.jpg")
    # Then it completes at its full size with both formats at each of the three widths,
    # the six together smaller than the original
    assert image["status"] == "completed"
    assert (image["width"], image["height"]) == (4272, 2848)
    assert sorted(v["width"] for v in image["variants"]) == [640, 640, 1024, 1024, 1920, 1920]
    assert sum(v["size"] for v in image["variants"]) < len(data)


def test_near_duplicates_of_the_same_tenant_are_listed_as_similar(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given a real photo, a smaller re-encoded copy of it, an unrelated photo, and the same
    # photo uploaded by another tenant
    from tests.photos import photo

    original = PILImage.open(photo("wood-5mp.jpg"))
    data = encode(original, quality=92)
    copy = encode(original.resize((1280, 960)), quality=70)
    unrelated = encode(PILImage.open(photo("dragonfly-13mp.jpg")).resize((1600, 1200)), quality=85)
    first = process(api, sources, data)
    second = process(api, sources, copy)
    process(api, sources, unrelated)
    theirs = process(api, sources, data, claims={"sub": "someone-else"})
    assert theirs["status"] == "completed"
    assert theirs["imageId"] != first["imageId"]
    # When the first is read
    detail = api.request("GET", f"/images/{first['imageId']}").json()
    # Then only its own tenant's near-duplicate is listed, with its distance
    assert [s["imageId"] for s in detail["similar"]] == [second["imageId"]]
    assert 0 <= detail["similar"][0]["distance"] <= 6
    # And deleting the copy removes it from the index
    assert api.request("DELETE", f"/images/{second['imageId']}").status == 204
    assert api.request("GET", f"/images/{first['imageId']}").json()["similar"] == []
    indexed = {
        i["imageId"]["S"] for i in items(aws, "ImagesTable") if i["pk"]["S"].startswith("band#")
    }
    assert first["imageId"] in indexed
    assert second["imageId"] not in indexed
    # And the other tenant sees its own copy's neighbours only (none)
    theirs_detail = api.request(
        "GET", f"/images/{theirs['imageId']}", jwt_claims={"sub": "someone-else"}
    ).json()
    assert theirs_detail["similar"] == []


def test_a_job_retried_after_the_image_was_deleted_removes_what_it_wrote(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources, runner: FunctionRunner
) -> None:
    # Given a variants job that wrote outputs, then died; the image was deleted meanwhile
    from imagepipe.domain import keys
    from imagepipe_local.events import sqs_event

    entry = upload(api, encode(photo_like(300, 200)))
    ingest(sources, entry["imageId"])
    record = api.request("GET", f"/images/{entry['imageId']}").json()
    date = "/".join(record["original"]["key"].split("/")[1:4])
    assert api.request("DELETE", f"/images/{entry['imageId']}").status == 204
    stray = keys.variant_key(date, entry["imageId"], "large", "avif")
    boto3.client("s3").put_object(Bucket=bucket(aws), Key=stray, Body=b"written before dying")
    # When the job is retried (its message names the image and its key date)
    body = json.dumps({"kind": "variants", "imageId": entry["imageId"], "keyDate": date})
    message = {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": body}
    response = runner.invoke(
        "VariantsFunction", sqs_event([message], queue_arn=aws.arn("VariantsQueue"))
    )
    # Then it succeeds as a no-op and nothing of the image is left
    assert response == {"batchItemFailures": []}
    assert object_keys(aws) == []


def test_an_original_that_only_a_worker_cannot_decode_ends_failed(
    api: LocalHttpApi, aws: Template, sources: LocalEventSources
) -> None:
    # Given an ingested image whose original was damaged before the workers ran
    entry = upload(api, encode(photo_like(400, 300)))
    ingest(sources, entry["imageId"])
    original = api.request("GET", f"/images/{entry['imageId']}").json()["original"]["key"]
    s3 = boto3.client("s3")
    damaged = s3.get_object(Bucket=bucket(aws), Key=original)["Body"].read()[:2000]
    s3.put_object(Bucket=bucket(aws), Key=original, Body=damaged)
    # When the jobs run
    sources.drain()
    # Then the image is failed with the decoder's code, not stuck in processing
    image = api.request("GET", f"/images/{entry['imageId']}").json()
    assert image["status"] == "failed"
    assert image["error"]["code"] == "corrupt_image"
