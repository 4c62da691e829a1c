"""`imagepipe local --data-dir DIR`: the emulator keeps everything in memory, so the stack
snapshots its tables and buckets into DIR when it stops and loads them back when it starts.
Queues are not kept: jobs in flight at shutdown are lost (an image can stay `processing`)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from imagepipe_local.template import Template


def _encode(value: Any) -> Any:
    # DynamoDB's binary values ("B") come back from boto3 as bytes.
    if isinstance(value, bytes | bytearray):
        return {"__base64__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__base64__"}:
            return base64.b64decode(value["__base64__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def snapshot(template: Template, directory: Path, s3: Any, dynamodb: Any) -> None:
    tables = directory / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    for table in template.of_type("AWS::DynamoDB::Table"):
        items: list[Any] = []
        for page in dynamodb.get_paginator("scan").paginate(
            TableName=template.physical_name(table)
        ):
            items.extend(page["Items"])
        (tables / f"{table}.json").write_text(json.dumps(_encode(items)), encoding="utf-8")
    for bucket in template.of_type("AWS::S3::Bucket"):
        root = directory / "buckets" / bucket
        # Objects are files named by the hash of their key (a key is not a safe path), and the
        # previous snapshot's go first so deleted images do not linger on disk.
        shutil.rmtree(root / "objects", ignore_errors=True)
        manifest: dict[str, dict[str, str]] = {}
        name = template.physical_name(bucket)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for entry in page.get("Contents", []):
                obj = s3.get_object(Bucket=name, Key=entry["Key"])
                target = root / "objects" / _file_name(entry["Key"])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(obj["Body"].read())
                manifest[entry["Key"]] = {
                    "ContentType": obj.get("ContentType", "binary/octet-stream"),
                    "CacheControl": obj.get("CacheControl", ""),
                }
        root.mkdir(parents=True, exist_ok=True)
        (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _file_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def restore(template: Template, directory: Path, s3: Any, dynamodb: Any) -> int:
    """Load a snapshot into freshly provisioned resources; returns how many things came back."""
    restored = 0
    for table in template.of_type("AWS::DynamoDB::Table"):
        path = directory / "tables" / f"{table}.json"
        if not path.is_file():
            continue
        name = template.physical_name(table)
        for item in _decode(json.loads(path.read_text(encoding="utf-8"))):
            dynamodb.put_item(TableName=name, Item=item)
            restored += 1
    for bucket in template.of_type("AWS::S3::Bucket"):
        root = directory / "buckets" / bucket
        manifest_path = root / "manifest.json"
        if not manifest_path.is_file():
            continue
        name = template.physical_name(bucket)
        for key, meta in json.loads(manifest_path.read_text(encoding="utf-8")).items():
            extra = {k: v for k, v in meta.items() if v}
            body = (root / "objects" / _file_name(key)).read_bytes()
            s3.put_object(Bucket=name, Key=key, Body=body, **extra)
            restored += 1
    return restored
