"""`imagepipe local --data-dir`: tables and buckets survive a restart of the emulator."""

from __future__ import annotations

from pathlib import Path

import boto3

from imagepipe_local.http_api import LocalHttpApi
from imagepipe_local.persistence import restore, snapshot
from imagepipe_local.template import Template
from tests.integration.helpers import bucket, items, object_keys, seed_processed_image

IMAGE = "c" * 32


def test_a_snapshot_brings_back_every_item_and_object(
    api: LocalHttpApi, aws: Template, tmp_path: Path
) -> None:
    # Given a processed image, snapshotted
    seed_processed_image(aws, image_id=IMAGE, sessions=("s-1", "s-2"))
    keys_before, images_before = object_keys(aws), items(aws, "ImagesTable")
    s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
    snapshot(aws, tmp_path, s3, dynamodb)
    # When the emulator starts over empty (tables recreated, bucket emptied) and loads it
    for table in aws.of_type("AWS::DynamoDB::Table"):
        dynamodb.delete_table(TableName=aws.physical_name(table))
        dynamodb.create_table(**aws.table_definition(table))
    for key in object_keys(aws):
        s3.delete_object(Bucket=bucket(aws), Key=key)
    assert object_keys(aws) == []
    restored = restore(aws, tmp_path, s3, dynamodb)
    # Then everything is back: items, objects with their metadata, and the API serves it
    assert restored == len(keys_before) + len(images_before) + 2  # + the 2 session links
    assert object_keys(aws) == keys_before
    assert items(aws, "ImagesTable") == images_before
    head = s3.head_object(Bucket=bucket(aws), Key=keys_before[0])
    assert head["ContentType"]
    listing = api.request("GET", "/sessions/s-2/images").json()
    assert [i["imageId"] for i in listing["images"]] == [IMAGE]
