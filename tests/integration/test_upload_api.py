"""POST /uploads through the real handler, on moto built from template.yaml."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from imagepipe.domain.model import ImageStatus
from imagepipe_local.http_api import LocalHttpApi
from imagepipe_local.template import Template
from tests.integration.helpers import (
    bucket,
    images_repo,
    items,
    object_keys,
    presign,
    sha256,
    spec,
)

JPEG = b"\xff\xd8\xff\xe0 pretend this is a jpeg " * 10
PNG = b"\x89PNG\r\n\x1a\n pretend this is a png " * 10


def links_of(template: Template, session: str, tenant: str = "public") -> list[str]:
    return sorted(
        item["imageId"]["S"]
        for item in items(template, "SessionImagesTable")
        if item["sessionKey"]["S"] == f"{tenant}#{session}"
    )


def policy_of(upload: dict[str, Any]) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(base64.b64decode(upload["fields"]["policy"]))
    return policy


def test_new_file_gets_a_pinned_presigned_post(api: LocalHttpApi, aws: Template) -> None:
    # Given a file nobody uploaded
    # When it is presigned
    response = presign(api, "s-1", JPEG)
    # Then it is new, pending, with an Uppy-shaped POST target for uploads/<imageId>
    assert response.status == 200, response.body
    (upload,) = response.json()["uploads"]
    assert upload["isNew"] is True
    assert upload["status"] == "pending_upload"
    target = upload["upload"]
    assert target["method"] == "POST"
    assert target["headers"] == {}
    assert target["fields"]["key"] == f"uploads/{upload['imageId']}"
    assert target["fields"]["Content-Type"] == "image/jpeg"
    # And the policy pins the key, the type, the checksum and the size range, and expires soon
    policy = policy_of(target)
    conditions = policy["conditions"]
    assert {"key": f"uploads/{upload['imageId']}"} in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert {"bucket": bucket(aws)} in conditions
    assert ["content-length-range", 1, 268435456] in conditions
    checksum = base64.b64encode(bytes.fromhex(sha256(JPEG))).decode()
    assert {"x-amz-checksum-sha256": checksum} in conditions
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert timedelta(seconds=250) < expires - datetime.now(UTC) <= timedelta(seconds=300)
    assert datetime.fromisoformat(target["expiresAt"]) == expires.replace(microsecond=0)
    # And the record and the session link exist
    assert links_of(aws, "s-1") == [upload["imageId"]]
    record = images_repo(aws).get(upload["imageId"])
    assert record is not None
    assert record.status is ImageStatus.PENDING_UPLOAD
    assert (record.sha256, record.size, record.tenant) == (sha256(JPEG), len(JPEG), "public")


def test_multipart_post_of_the_form_lands_the_object_at_the_key(
    api: LocalHttpApi, aws: Template
) -> None:
    # Given a presigned upload
    upload = presign(api, "s-1", JPEG).json()["uploads"][0]
    target = upload["upload"]
    # When the browser's multipart POST is sent with the fields, file last
    response = requests.post(
        target["url"],
        data=target["fields"],
        files={"file": ("cat.jpg", JPEG, "image/jpeg")},
        timeout=10,
    )
    # Then S3 accepts it and the bytes are at uploads/<imageId>, nowhere else
    assert response.status_code in (200, 201, 204), response.text
    assert object_keys(aws) == [f"uploads/{upload['imageId']}"]
    import boto3

    body = boto3.client("s3").get_object(Bucket=bucket(aws), Key=f"uploads/{upload['imageId']}")
    assert body["Body"].read() == JPEG
    assert body["ContentType"] == "image/jpeg"


def test_duplicate_in_same_session_is_linked_once_and_gets_no_upload(
    api: LocalHttpApi, aws: Template
) -> None:
    # Given an image already processed
    first = presign(api, "s-1", JPEG).json()["uploads"][0]
    _mark(aws, first["imageId"], ImageStatus.COMPLETED)
    # When the same bytes are presigned again, twice, in the same session
    again = presign(api, "s-1", JPEG).json()["uploads"][0]
    presign(api, "s-1", JPEG)
    # Then the same image comes back, not new, without an upload target, linked once
    assert again == {
        "imageId": first["imageId"],
        "isNew": False,
        "status": "completed",
        "upload": None,
    }
    assert links_of(aws, "s-1") == [first["imageId"]]
    assert len([i for i in items(aws, "ImagesTable") if i["pk"]["S"].startswith("image#")]) == 1


def test_duplicate_in_another_session_is_linked_there_too(api: LocalHttpApi, aws: Template) -> None:
    # Given an image of s-1 that is being processed
    first = presign(api, "s-1", JPEG).json()["uploads"][0]
    _mark(aws, first["imageId"], ImageStatus.PROCESSING)
    # When the same bytes are presigned in s-2
    other = presign(api, "s-2", JPEG).json()["uploads"][0]
    # Then the same image comes back, not new and without an upload target
    assert other["imageId"] == first["imageId"]
    assert other["isNew"] is False
    assert other["upload"] is None
    # And it is linked to both sessions
    assert links_of(aws, "s-1") == [first["imageId"]]
    assert links_of(aws, "s-2") == [first["imageId"]]


def test_pending_image_gets_the_same_id_and_a_fresh_upload(
    api: LocalHttpApi, aws: Template
) -> None:
    # Given an image presigned in s-1 whose bytes never came
    first = presign(api, "s-1", JPEG).json()["uploads"][0]
    # When the same bytes are presigned in s-2
    again = presign(api, "s-2", JPEG).json()["uploads"][0]
    # Then it is the same pending image, with an upload target for its staging key again,
    # and s-2 links it
    assert again["imageId"] == first["imageId"]
    assert again["isNew"] is False
    assert again["status"] == "pending_upload"
    assert again["upload"]["fields"]["key"] == f"uploads/{first['imageId']}"
    assert links_of(aws, "s-2") == [first["imageId"]]


def test_failed_image_is_reopened_for_a_new_upload(api: LocalHttpApi, aws: Template) -> None:
    # Given an image that failed with checksum_mismatch
    first = presign(api, "s-1", JPEG).json()["uploads"][0]
    _mark(aws, first["imageId"], ImageStatus.FAILED, error_code="checksum_mismatch")
    # When the same bytes are presigned again
    again = presign(api, "s-1", JPEG).json()["uploads"][0]
    # Then the same image is pending again, with an upload target
    assert again["imageId"] == first["imageId"]
    assert again["status"] == "pending_upload"
    assert again["upload"] is not None
    # And its record is back to pending, with the error cleared
    record = images_repo(aws).get(first["imageId"])
    assert record is not None
    assert (record.status, record.error_code) == (ImageStatus.PENDING_UPLOAD, None)


def test_twenty_concurrent_presigns_of_one_new_hash_make_one_image(
    api: LocalHttpApi, aws: Template
) -> None:
    # Given 20 clients presigning the same new bytes at the same moment
    barrier = threading.Barrier(20)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def client(index: int) -> None:
        try:
            barrier.wait()
            response = presign(api, f"s-{index}", JPEG)
            assert response.status == 200, response.body
            results.append(response.json()["uploads"][0])
        except BaseException as error:  # surfaced below, in the test's thread
            errors.append(error)

    # When all twenty run
    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one is new, all got the same id, and one image record and claim exist
    assert errors == []
    assert sum(1 for r in results if r["isNew"]) == 1
    assert {r["imageId"] for r in results} == {results[0]["imageId"]}
    kinds = sorted(i["pk"]["S"].split("#")[0] for i in items(aws, "ImagesTable"))
    assert kinds == ["image", "sha256"]
    assert len(items(aws, "SessionImagesTable")) == 20


def test_tenants_never_share_an_image(api: LocalHttpApi, aws: Template) -> None:
    # Given the same bytes uploaded by the public tenant and by two JWT subjects
    # When each presigns them, all in a session named s-1
    public = presign(api, "s-1", JPEG).json()["uploads"][0]
    alice = presign(api, "s-1", JPEG, claims={"sub": "alice"}).json()["uploads"][0]
    bob = presign(api, "s-1", JPEG, claims={"sub": "bob"}).json()["uploads"][0]
    # Then each tenant got its own new image: nobody learns what another uploaded
    assert [public["isNew"], alice["isNew"], bob["isNew"]] == [True, True, True]
    assert len({public["imageId"], alice["imageId"], bob["imageId"]}) == 3
    # And one tenant's image is a 404 for the others
    assert (
        api.request("GET", f"/images/{alice['imageId']}", jwt_claims={"sub": "bob"}).status == 404
    )
    assert api.request("GET", f"/images/{alice['imageId']}").status == 404
    assert (
        api.request("GET", f"/images/{alice['imageId']}", jwt_claims={"sub": "alice"}).status == 200
    )
    # And a session id is per tenant: bob's s-1 lists only bob's image
    listing = api.request("GET", "/sessions/s-1/images", jwt_claims={"sub": "bob"}).json()
    assert [i["imageId"] for i in listing["images"]] == [bob["imageId"]]


def test_session_id_from_header(api: LocalHttpApi, aws: Template) -> None:
    # Given a body without a sessionId / When it is posted with an X-Session-Id header
    response = api.request(
        "POST",
        "/uploads",
        body={"files": [spec(PNG, "a.png", "image/png")]},
        headers={"X-Session-Id": "hdr-1"},
    )
    # Then the upload is accepted and linked to the header's session
    assert response.status == 200, response.body
    assert links_of(aws, "hdr-1") == [response.json()["uploads"][0]["imageId"]]


BAD_REQUESTS = [
    ("malformed_json", None, '{"files": [', "body"),
    ("invalid_body", None, "[1, 2]", "body"),
    ("missing_field", {"sessionId": "s-1"}, None, "files"),
    ("no_files", {"sessionId": "s-1", "files": []}, None, "files"),
    (
        "too_many_files",
        {"sessionId": "s-1", "files": [spec(bytes([i])) for i in range(11)]},
        None,
        "files",
    ),
    ("missing_session_id", {"files": [spec(JPEG)]}, None, "sessionId"),
    ("invalid_session_id", {"sessionId": "has#hash", "files": [spec(JPEG)]}, None, "sessionId"),
    (
        "invalid_sha256",
        {"sessionId": "s-1", "files": [{**spec(JPEG), "sha256": "abc"}]},
        None,
        "files[0].sha256",
    ),
    (
        "invalid_sha256",
        {"sessionId": "s-1", "files": [{**spec(JPEG), "sha256": "g" * 64}]},
        None,
        "files[0].sha256",
    ),
    (
        "unsupported_content_type",
        {"sessionId": "s-1", "files": [spec(JPEG, "x.svg", "image/svg+xml")]},
        None,
        "files[0].contentType",
    ),
    (
        "unsupported_content_type",
        {"sessionId": "s-1", "files": [spec(JPEG, "x.pdf", "application/pdf")]},
        None,
        "files[0].contentType",
    ),
    (
        "invalid_size",
        {"sessionId": "s-1", "files": [{**spec(JPEG), "size": 0}]},
        None,
        "files[0].size",
    ),
    (
        "invalid_size",
        {"sessionId": "s-1", "files": [{**spec(JPEG), "size": "big"}]},
        None,
        "files[0].size",
    ),
    (
        "file_too_large",
        {"sessionId": "s-1", "files": [{**spec(JPEG), "size": 268435457}]},
        None,
        "files[0].size",
    ),
    (
        "invalid_filename",
        {"sessionId": "s-1", "files": [{**spec(JPEG), "filename": ""}]},
        None,
        "files[0].filename",
    ),
    (
        "missing_field",
        {"sessionId": "s-1", "files": [{"filename": "a.jpg"}]},
        None,
        "files[0].contentType",
    ),
]


@pytest.mark.parametrize(("code", "body", "raw", "field"), BAD_REQUESTS)
def test_bad_requests_get_400_with_a_code_and_change_nothing(
    api: LocalHttpApi, aws: Template, code: str, body: Any, raw: str | None, field: str
) -> None:
    # Given a body that is malformed or breaks a rule / When it is posted to /uploads
    response = api.request("POST", "/uploads", body=body, raw_body=raw)
    # Then a 400 gives the rule's code and the field, a message and the request id
    assert response.status == 400, response.body
    error = response.json()["error"]
    assert error["code"] == code
    assert error["field"] == field
    assert error["message"]
    assert error["requestId"]
    # And no record or link was written
    assert items(aws, "ImagesTable") == []
    assert items(aws, "SessionImagesTable") == []


def test_one_bad_file_rejects_the_whole_request(api: LocalHttpApi, aws: Template) -> None:
    # Given a good JPEG and, second, a PNG declared at a terabyte
    body = {"sessionId": "s-1", "files": [spec(JPEG), {**spec(PNG), "size": 10**12}]}
    # When both are requested together
    response = api.request("POST", "/uploads", body=body)
    # Then the request is refused at the second file's size, and not even the JPEG is recorded
    assert response.status == 400
    assert response.json()["error"]["field"] == "files[1].size"
    assert items(aws, "ImagesTable") == []


def test_uppercase_sha256_is_accepted_as_the_same_hash(api: LocalHttpApi, aws: Template) -> None:
    # Given an image presigned with its hash in lower case
    first = presign(api, "s-1", JPEG).json()["uploads"][0]
    # When the same file is requested with its hash in upper case
    body = {"sessionId": "s-1", "files": [{**spec(JPEG), "sha256": sha256(JPEG).upper()}]}
    again = api.request("POST", "/uploads", body=body).json()["uploads"][0]
    # Then it is the same image
    assert again["imageId"] == first["imageId"]


def _mark(
    template: Template, image_id: str, status: ImageStatus, error_code: str | None = None
) -> None:
    from dataclasses import replace

    repo = images_repo(template)
    image = repo.get(image_id)
    assert image is not None
    repo.save(replace(image, status=status, error_code=error_code, error_message=error_code))


def test_unexpected_failure_is_a_500_with_the_request_id_and_no_trace(
    api: LocalHttpApi, aws: Template
) -> None:
    # Given a broken backend: the images table is gone
    import boto3

    boto3.client("dynamodb").delete_table(TableName=aws.physical_name("ImagesTable"))
    from imagepipe_local.events import http_api_event

    event = http_api_event(
        route_key="POST /uploads",
        path="/uploads",
        body={"sessionId": "s-1", "files": [spec(JPEG)]},
        request_id="Req-500-EXAMPLE=",
    )
    # When an upload is requested
    response = api.send("PresignUploadFunction", event)
    # Then the client gets a 500 with the request id to quote, and nothing of the internals
    assert response.status == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "internal error; quote the requestId when reporting it",
            "requestId": "Req-500-EXAMPLE=",
        }
    }
    assert "Traceback" not in response.body
    assert "ResourceNotFound" not in response.body


def test_a_pending_record_expires_two_days_after_the_request(
    api: LocalHttpApi, aws: Template
) -> None:
    # Given a new file / When it is presigned
    upload = presign(api, "s-1", JPEG).json()["uploads"][0]
    # Then its pending record expires two days from now, to within a minute
    items_by_pk = {i["pk"]["S"]: i for i in items(aws, "ImagesTable")}
    expires = int(items_by_pk[f"image#{upload['imageId']}"]["expiresAt"]["N"])
    remaining = expires - datetime.now(UTC).timestamp()
    assert (
        timedelta(days=2) - timedelta(minutes=1) < timedelta(seconds=remaining) <= timedelta(days=2)
    )


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded"],
)
def test_a_body_that_is_not_json_is_415_not_500(api: LocalHttpApi, content_type: str) -> None:
    # Given a POST /uploads whose Content-Type is not JSON (a form, text, no boundary)
    body = json.dumps({"sessionId": "s-1", "files": [spec(JPEG)]})
    # When it is sent / Then it is refused as the client's mistake, with a machine code
    response = api.request(
        "POST", "/uploads", raw_body=body, headers={"content-type": content_type}
    )
    assert response.status == 415, response.body
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_json_nested_100000_deep_is_400_not_500(api: LocalHttpApi) -> None:
    # Given a JSON body of 100,000 nested arrays (valid JSON that exhausts a recursive parser)
    body = "[" * 100_000 + "]" * 100_000
    # When it is posted / Then it is malformed as far as the API is concerned
    response = api.request(
        "POST", "/uploads", raw_body=body, headers={"content-type": "application/json"}
    )
    assert response.status == 400, response.body
    assert response.json()["error"]["code"] == "malformed_json"
