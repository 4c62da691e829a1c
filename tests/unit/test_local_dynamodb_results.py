"""The local stack's moto process dumps DynamoDB item results as they are instead of walking
them with moto's generic serializer (imagepipe_local.s3_front.fast_dynamodb_item_results): the
client must parse exactly what the serializer gave it, for every attribute type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoResult

from imagepipe_local.s3_front import fast_dynamodb_item_results

TABLE = "results"
ITEM = {
    "pk": {"S": "image#1"},
    "sk": {"S": "v1"},
    "n": {"N": "12.5"},
    "b": {"B": b"\x00\xffthumb\x89PNG"},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "meta": {
        "M": {
            "exif": {"M": {"iso": {"N": "50"}, "model": {"S": "DiMAGE Z5"}}},
            "colours": {"L": [{"S": "#aabbcc"}, {"N": "0.25"}, {"B": b"\x01\x02"}]},
        }
    },
    "tags": {"SS": ["sunset", "sea"]},
    "sizes": {"NS": ["640", "1024"]},
    "blobs": {"BS": [b"a", b"\x00b"]},
}


def _operations(client: Any) -> list[tuple[str, Callable[[], Any]]]:
    key = {"pk": ITEM["pk"], "sk": ITEM["sk"]}
    return [
        ("put", lambda: client.put_item(TableName=TABLE, Item=ITEM, ReturnValues="ALL_OLD")),
        ("get", lambda: client.get_item(TableName=TABLE, Key=key)),
        ("get-missing", lambda: client.get_item(TableName=TABLE, Key={**key, "sk": {"S": "x"}})),
        (
            "query",
            lambda: client.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": ITEM["pk"]},
                ReturnConsumedCapacity="TOTAL",
            ),
        ),
        ("scan", lambda: client.scan(TableName=TABLE, Limit=1)),
        ("batch-get", lambda: client.batch_get_item(RequestItems={TABLE: {"Keys": [key]}})),
        (
            "update",
            lambda: client.update_item(
                TableName=TABLE,
                Key=key,
                UpdateExpression="SET n = :n",
                ExpressionAttributeValues={":n": {"N": "13"}},
                ReturnValues="ALL_NEW",
            ),
        ),
        (
            "transact-get",
            lambda: client.transact_get_items(
                TransactItems=[{"Get": {"TableName": TABLE, "Key": key}}]
            ),
        ),
        (
            "batch-write",
            lambda: client.batch_write_item(
                RequestItems={TABLE: [{"PutRequest": {"Item": {**ITEM, "sk": {"S": "v2"}}}}]}
            ),
        ),
        ("delete", lambda: client.delete_item(TableName=TABLE, Key=key, ReturnValues="ALL_OLD")),
    ]


def _responses(client: Any) -> dict[str, Any]:
    if TABLE in client.list_tables()["TableNames"]:
        client.delete_table(TableName=TABLE)
    client.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    found = {}
    for name, call in _operations(client):
        response = call()
        response.pop("ResponseMetadata", None)
        found[name] = response
    return found


def test_item_results_parse_the_same_as_with_motos_serializer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        # Given every item operation's result through moto's own serializer
        generic = _responses(client)
        # When the same operations run with the fast path installed
        monkeypatch.setattr(DynamoResult, "execute_result", DynamoResult.execute_result)
        monkeypatch.setattr(DynamoResult, "_imagepipe_fast", False, raising=False)
        assert fast_dynamodb_item_results()
        fast = _responses(client)
    # Then the client parses exactly the same responses
    assert fast == generic
    assert generic["get"]["Item"]["b"] == ITEM["b"]
    assert "Item" not in generic["get-missing"]
