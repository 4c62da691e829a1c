"""Multipart uploads through the real handlers, on moto built from template.yaml: POST /uploads
above MultipartThresholdBytes, sign parts, PUT them to their presigned URLs, list, complete,
abort, resume by hash, and the errors of each route."""

from __future__ import annotations

import base64
import hashlib
import random
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from imagepipe.domain.model import ImageStatus
from imagepipe_local.http_api import HttpResponse, LocalHttpApi
from imagepipe_local.template import Template
from tests.integration.helpers import bucket, images_repo, items, object_keys, sha256, spec

MIB = 1024 * 1024
THRESHOLD = 16 * MIB  # the template's default MultipartThresholdBytes
PART = 8 * MIB  # the template's default MultipartPartSizeBytes
# 2 full parts and a short last one; random bytes: a part's ETag and checksum are its own.
DATA = random.Random(3).randbytes(2 * PART) + b"tail" * 1000  # no two parts alike
PARTS = [DATA[0:PART], DATA[PART : 2 * PART], DATA[2 * PART :]]


def b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def create(api: LocalHttpApi, session: str = "s-1", data: bytes = DATA) -> dict[str, Any]:
    response = api.request("POST", "/uploads", body={"sessionId": session, "files": [spec(data)]})
    assert response.status == 200, response.body
    (upload,) = response.json()["uploads"]
    return dict(upload)


def sign(api: LocalHttpApi, image_id: str, *numbers: int) -> HttpResponse:
    parts = [
        {"partNumber": n, "size": len(PARTS[n - 1]), "sha256": b64sha(PARTS[n - 1])}
        for n in numbers
    ]
    return api.request("POST", f"/uploads/{image_id}/parts", body={"parts": parts})


def put_parts(api: LocalHttpApi, image_id: str, *numbers: int) -> dict[int, str]:
    signed = sign(api, image_id, *numbers)
    assert signed.status == 200, signed.body
    etags = {}
    for target in signed.json()["parts"]:
        number = target["partNumber"]
        sent = requests.put(
            target["url"], data=PARTS[number - 1], headers=target["headers"], timeout=30
        )
        assert sent.status_code == 200, sent.text
        etags[number] = sent.headers["ETag"]
    return etags


def complete(api: LocalHttpApi, image_id: str, etags: dict[int, str]) -> HttpResponse:
    parts = [{"partNumber": n, "etag": etag} for n, etag in sorted(etags.items())]
    return api.request("POST", f"/uploads/{image_id}/complete", body={"parts": parts})


def open_uploads(aws: Template) -> list[Any]:
    s3 = boto3.client("s3", region_name=aws.names.region)
    return list(s3.list_multipart_uploads(Bucket=bucket(aws)).get("Uploads", []))


def error(response: HttpResponse) -> tuple[int, str]:
    return response.status, response.json()["error"]["code"]


def test_a_large_file_gets_a_multipart_upload(api: LocalHttpApi, aws: Template) -> None:
    # Given a file above the threshold / When it is presigned
    upload = create(api)
    # Then it gets an S3 multipart upload of 3 parts of 8 MiB (the last shorter)
    target = upload["upload"]
    assert target["method"] == "MULTIPART"
    assert target["key"] == f"uploads/{upload['imageId']}"
    assert (target["partSize"], target["partCount"]) == (PART, 3)
    (opened,) = open_uploads(aws)
    assert (opened["UploadId"], opened["Key"]) == (target["uploadId"], target["key"])
    assert opened["ChecksumAlgorithm"] == "SHA256"
    # And a file at the threshold still gets a presigned POST
    small = create(api, data=b"x" * THRESHOLD)
    assert small["upload"]["method"] == "POST"


def test_parts_signed_put_listed_and_completed_land_the_object(
    api: LocalHttpApi, aws: Template
) -> None:
    # Given an open multipart upload
    upload = create(api)
    image_id = upload["imageId"]
    # When each part is signed with its SHA-256 and PUT to its URL
    signed = sign(api, image_id, 1, 2, 3)
    assert signed.status == 200, signed.body
    for target in signed.json()["parts"]:
        # Then the checksum is signed into the URL and is the one header to send
        assert target["method"] == "PUT"
        checksum = b64sha(PARTS[target["partNumber"] - 1])
        assert target["headers"] == {"x-amz-checksum-sha256": checksum}
        signed_headers = parse_qs(urlsplit(target["url"]).query)["X-Amz-SignedHeaders"]
        assert signed_headers == ["content-length;host;x-amz-checksum-sha256"]
    etags = put_parts(api, image_id, 1, 2, 3)
    # And the listing shows the three parts with their sizes and ETags
    listed = api.request("GET", f"/uploads/{image_id}/parts")
    assert listed.status == 200, listed.body
    body = listed.json()
    assert body["uploadId"] == upload["upload"]["uploadId"]
    assert [(p["partNumber"], p["size"], p["etag"]) for p in body["parts"]] == [
        (n, len(PARTS[n - 1]), etags[n]) for n in (1, 2, 3)
    ]
    # When it is completed
    done = complete(api, image_id, etags)
    # Then S3 holds the whole file under the staging key, and no upload is open
    assert done.status == 200, done.body
    assert done.json() == {"imageId": image_id, "status": "pending_upload"}
    s3 = boto3.client("s3", region_name=aws.names.region)
    stored = s3.get_object(Bucket=bucket(aws), Key=f"uploads/{image_id}")["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == sha256(DATA)
    assert open_uploads(aws) == []
    # And completing again (a lost answer, retried) answers the same
    assert complete(api, image_id, etags).json() == {
        "imageId": image_id,
        "status": "pending_upload",
    }
    # But there is nothing left to sign, list or abort
    assert error(sign(api, image_id, 1)) == (409, "upload_completed")
    assert error(api.request("GET", f"/uploads/{image_id}/parts")) == (409, "upload_completed")


def test_a_lost_client_resumes_the_same_upload_by_hash(api: LocalHttpApi, aws: Template) -> None:
    # Given an upload interrupted after its first part
    first = create(api, "s-1")
    image_id = first["imageId"]
    etags = put_parts(api, image_id, 1)
    # When the client, having lost everything, asks again for the same bytes (another session)
    again = create(api, "s-2")
    # Then it gets the same image, key, upload id and layout
    assert again["imageId"] == image_id
    assert again["isNew"] is False
    assert again["upload"] == first["upload"]
    # And the listing tells it part 1 is there, so it sends only 2 and 3 and completes
    listed = api.request("GET", f"/uploads/{image_id}/parts").json()["parts"]
    assert [p["partNumber"] for p in listed] == [1]
    etags |= put_parts(api, image_id, 2, 3)
    assert complete(api, image_id, etags).status == 200
    assert open_uploads(aws) == []


def test_racing_clients_on_one_new_hash_share_one_upload(api: LocalHttpApi, aws: Template) -> None:
    # Given 8 clients asking for the same new large file at once
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def ask(index: int) -> None:
        upload = create(api, f"s-{index}")
        with lock:
            results.append(upload)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then one image, one multipart upload, and every client got it
    assert len({r["imageId"] for r in results}) == 1
    assert len({r["upload"]["uploadId"] for r in results}) == 1
    assert [r["isNew"] for r in results].count(True) == 1
    (opened,) = open_uploads(aws)
    assert opened["UploadId"] == results[0]["upload"]["uploadId"]


def test_abort_removes_the_parts_the_record_and_the_links(api: LocalHttpApi, aws: Template) -> None:
    # Given an upload with a part stored
    upload = create(api)
    image_id = upload["imageId"]
    put_parts(api, image_id, 1)
    # When it is aborted
    aborted = api.request("DELETE", f"/uploads/{image_id}")
    # Then nothing is open, the pending record and its link are gone, nothing is stored
    assert aborted.status == 204, aborted.body
    assert open_uploads(aws) == []
    assert images_repo(aws).get(image_id) is None
    assert items(aws, "SessionImagesTable") == []
    assert object_keys(aws) == []
    # And the same bytes start afresh as a new image
    assert create(api)["imageId"] != image_id
    # And aborting again is a 404
    assert error(api.request("DELETE", f"/uploads/{image_id}")) == (404, "not_found")


def test_deleting_an_image_aborts_its_open_upload(api: LocalHttpApi, aws: Template) -> None:
    # Given an upload with a part stored / When the image is deleted / Then no upload is open
    upload = create(api)
    put_parts(api, upload["imageId"], 1)
    assert api.request("DELETE", f"/images/{upload['imageId']}").status == 204
    assert open_uploads(aws) == []


def test_an_upload_s3_gave_up_is_started_again(api: LocalHttpApi, aws: Template) -> None:
    # Given an upload that S3 aborted (the bucket's 1-day lifecycle rule)
    first = create(api)
    s3 = boto3.client("s3", region_name=aws.names.region)
    s3.abort_multipart_upload(
        Bucket=bucket(aws), Key=first["upload"]["key"], UploadId=first["upload"]["uploadId"]
    )
    # When its client lists the parts / Then 409 upload_not_open
    listing = api.request("GET", f"/uploads/{first['imageId']}/parts")
    assert error(listing) == (409, "upload_not_open")
    # When the file is asked for again / Then the same image gets a new upload
    again = create(api)
    assert again["imageId"] == first["imageId"]
    assert again["upload"]["uploadId"] != first["upload"]["uploadId"]
    assert len(open_uploads(aws)) == 1


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([{"partNumber": 4, "size": 1, "sha256": b64sha(b"x")}], "invalid_part_number"),
        ([{"partNumber": 0, "size": 1, "sha256": b64sha(b"x")}], "invalid_part_number"),
        (
            [{"partNumber": 1, "size": PART, "sha256": b64sha(PARTS[0])}] * 2,
            "invalid_part_number",
        ),
        ([{"partNumber": 1, "size": PART - 1, "sha256": b64sha(PARTS[0])}], "invalid_part_size"),
        ([{"partNumber": 3, "size": PART, "sha256": b64sha(PARTS[2])}], "invalid_part_size"),
        ([{"partNumber": 1, "size": PART, "sha256": "A" * 43 + "!"}], "invalid_part_checksum"),
        ([{"partNumber": 1, "size": PART, "sha256": "short"}], "invalid_part_checksum"),
        ([{"partNumber": 1, "size": PART, "sha256": b64sha(b"x")}] * 101, "too_many_parts"),
        ([], "too_many_parts"),
    ],
)
def test_bad_part_requests_are_400s_with_their_codes(
    api: LocalHttpApi, aws: Template, parts: list[dict[str, Any]], expected: str
) -> None:
    upload = create(api)
    response = api.request("POST", f"/uploads/{upload['imageId']}/parts", body={"parts": parts})
    assert error(response) == (400, expected)


def test_a_part_list_that_does_not_fit_is_refused(api: LocalHttpApi, aws: Template) -> None:
    # Given an upload whose three parts are stored
    image_id = create(api)["imageId"]
    etags = put_parts(api, image_id, 1, 2, 3)
    # When completed without part 3, with a wrong ETag, or with a part twice / Then 400s
    assert error(complete(api, image_id, {1: etags[1], 2: etags[2]})) == (400, "parts_mismatch")
    wrong = {**etags, 2: '"0123456789abcdef0123456789abcdef"'}
    assert error(complete(api, image_id, wrong)) == (400, "parts_mismatch")
    twice = [{"partNumber": 1, "etag": etags[1]}] * 2
    response = api.request("POST", f"/uploads/{image_id}/complete", body={"parts": twice})
    assert error(response) == (400, "invalid_part_number")
    # And nothing was completed: the upload is still open
    assert len(open_uploads(aws)) == 1


def test_a_missing_part_cannot_be_completed(api: LocalHttpApi, aws: Template) -> None:
    # Given parts 1 and 3 stored, 2 never sent
    image_id = create(api)["imageId"]
    etags = put_parts(api, image_id, 1, 3)
    # When completed with an ETag made up for part 2 / Then 400 parts_mismatch naming it
    response = complete(api, image_id, {**etags, 2: '"made-up"'})
    assert error(response) == (400, "parts_mismatch")
    assert "part 2" in response.json()["error"]["message"]


def test_the_routes_answer_404_for_unknown_and_foreign_images(
    api: LocalHttpApi, aws: Template
) -> None:
    # Given tenant alice's open upload
    alice = {"sub": "alice"}
    response = api.request(
        "POST", "/uploads", body={"sessionId": "s-1", "files": [spec(DATA)]}, jwt_claims=alice
    )
    image_id = response.json()["uploads"][0]["imageId"]
    # When another tenant (here: public) or an unknown id uses the routes / Then 404 not_found
    for target in (image_id, "no-such-image"):
        assert error(sign(api, target, 1)) == (404, "not_found")
        assert error(api.request("GET", f"/uploads/{target}/parts")) == (404, "not_found")
        assert error(complete(api, target, {1: '"x"'})) == (404, "not_found")
        assert error(api.request("DELETE", f"/uploads/{target}")) == (404, "not_found")
    # And the owner still can
    listed = api.request("GET", f"/uploads/{image_id}/parts", jwt_claims=alice)
    assert listed.status == 200


def test_a_small_upload_has_no_multipart_routes(api: LocalHttpApi, aws: Template) -> None:
    # Given a file uploaded with a presigned POST / Then the multipart routes say so (409)
    image_id = create(api, data=b"small" * 100)["imageId"]
    assert error(sign(api, image_id, 1)) == (409, "upload_not_open")
    assert error(api.request("DELETE", f"/uploads/{image_id}")) == (409, "upload_not_open")


def test_the_record_keeps_the_upload_while_pending(api: LocalHttpApi, aws: Template) -> None:
    upload = create(api)
    record = images_repo(aws).get(upload["imageId"])
    assert record is not None
    assert record.status is ImageStatus.PENDING_UPLOAD
    assert (record.upload_id, record.part_size) == (upload["upload"]["uploadId"], PART)
