"""`imagepipe audit` on moto: clean after real processing, and each kind of inconsistency between
the bucket and the tables reported once, by what it is about."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from imagepipe.domain.model import ImageStatus, SessionLink
from imagepipe_local.audit import Finding, Report, audit, dynamodb_store, summary
from imagepipe_local.template import Template
from tests.integration.helpers import bucket, images_repo, seed_processed_image

IMAGE = "a" * 32
TIMEOUT = timedelta(minutes=15)


def run_audit(aws: Template) -> Report:
    store = dynamodb_store(
        boto3.client("s3", region_name=aws.names.region),
        bucket(aws),
        aws.physical_name("ImagesTable"),
        aws.physical_name("SessionImagesTable"),
        aws.names.region,
    )
    return audit(store, now=datetime.now(UTC), processing_timeout=TIMEOUT)


def kinds(report: Report) -> list[tuple[str, str]]:
    return [(f.kind, f.subject) for f in report.findings]


def test_a_processed_image_and_its_links_are_clean(aws: Template) -> None:
    # Given a completed image with its objects, linked to two sessions
    seed_processed_image(aws, image_id=IMAGE, sessions=("s-1", "s-2"))
    # When the stack is audited / Then nothing is found, and the summary says what was read
    report = run_audit(aws)
    assert report.findings == []
    assert summary(report) == "clean: 1 images, 8 objects, 2 session links"


def test_an_object_no_record_owns_is_an_orphan(aws: Template) -> None:
    # Given a clean image, and a variant of an image that has no record
    seed_processed_image(aws, image_id=IMAGE)
    stray = "images/2026/03/05/variants/" + "b" * 32 + "_large.webp"
    boto3.client("s3").put_object(Bucket=bucket(aws), Key=stray, Body=b"x")
    # When audited / Then the stray object is the one finding
    assert kinds(run_audit(aws)) == [("orphan_object", stray)]


def test_a_missing_variant_and_a_staging_leftover_are_found(aws: Template) -> None:
    # Given a completed image whose large AVIF is gone and whose staging upload is still there
    image = seed_processed_image(aws, image_id=IMAGE)
    s3 = boto3.client("s3")
    large = next(v.key for v in image.variants if v.name == "large" and v.format == "avif")
    s3.delete_object(Bucket=bucket(aws), Key=large)
    s3.put_object(Bucket=bucket(aws), Key=f"uploads/{IMAGE}", Body=b"x")
    # When audited / Then both are reported, about that image and that key
    assert kinds(run_audit(aws)) == [
        ("missing_object", IMAGE),
        ("staging_leftover", f"uploads/{IMAGE}"),
    ]


def test_links_and_claims_to_missing_images_are_dangling(aws: Template) -> None:
    # Given an image whose record was removed behind its links' and claim's back
    image = seed_processed_image(aws, image_id=IMAGE, sessions=("s-1",))
    dynamodb = boto3.client("dynamodb")
    dynamodb.delete_item(
        TableName=aws.physical_name("ImagesTable"), Key={"pk": {"S": f"image#{IMAGE}"}}
    )
    s3 = boto3.client("s3")
    for key in [image.original_key, image.thumbnail.key if image.thumbnail else ""]:
        s3.delete_object(Bucket=bucket(aws), Key=str(key))
    for variant in image.variants:
        s3.delete_object(Bucket=bucket(aws), Key=variant.key)
    # When audited / Then the claim and the link are reported
    assert [f.kind for f in run_audit(aws).findings] == ["dangling_claim", "dangling_link"]


@pytest.mark.parametrize(
    ("status", "kind"),
    [(ImageStatus.PROCESSING, "stuck_processing"), (ImageStatus.DELETING, "unfinished_delete")],
)
def test_an_image_stuck_processing_or_half_deleted_is_reported(
    aws: Template, status: ImageStatus, kind: str
) -> None:
    # Given an image processing for longer than the timeout (or left `deleting`)
    image = seed_processed_image(aws, image_id=IMAGE)
    long_ago = datetime.now(UTC) - TIMEOUT - timedelta(minutes=1)
    repo = images_repo(aws)
    current = repo.get(IMAGE)
    assert current is not None
    repo.save(replace(current, status=status, uploaded_at=long_ago, jobs_sent_at=long_ago))
    # When audited / Then it is the one finding, about that image
    report = run_audit(aws)
    assert [(f.kind, f.subject) for f in report.findings] == [(kind, image.image_id)]
    assert isinstance(report.findings[0], Finding)


def test_a_links_only_finding_prints_as_one_line_and_a_count(aws: Template) -> None:
    # Given a link to an image that never existed
    from imagepipe.adapters.dynamodb import DynamoSessionLinkRepository

    links = DynamoSessionLinkRepository(aws.physical_name("SessionImagesTable"), aws.names.region)
    links.link(SessionLink("public", "s-9", "c" * 32, datetime.now(UTC)))
    # When audited and summarised / Then one line names it, then the count
    lines = summary(run_audit(aws)).splitlines()
    assert lines[0].startswith("dangling_link")
    assert "public/s-9" in lines[0]
    assert lines[-1] == "1 finding(s) in 0 images, 0 objects, 1 session links"


def test_a_multipart_upload_no_pending_image_holds_is_found(aws: Template) -> None:
    # Given a clean image, and a multipart upload under a key no image record owns
    seed_processed_image(aws, image_id=IMAGE)
    s3 = boto3.client("s3")
    key = "uploads/" + "c" * 32
    s3.create_multipart_upload(Bucket=bucket(aws), Key=key)
    # When audited / Then the open upload is the one finding
    assert kinds(run_audit(aws)) == [("orphan_upload", key)]
