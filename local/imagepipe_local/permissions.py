"""The AWS calls of each adapter method and of each function: the one place they are declared.

A new AWS call goes here first. Then:
- tests/test_iam.py fails until each function's policy in template.yaml grants exactly the IAM
  actions of the calls declared for it (no fewer, no more);
- the local stack and every test that runs a handler (`imagepipe_local.iam`) refuse, as AWS
  would, a call the function's policy does not allow on that resource, and report a call made
  from an adapter method this file does not declare for the function, or from outside an adapter.

Actions are IAM actions, not API operations: HeadObject needs s3:GetObject, CopyObject needs
s3:GetObject on its source and s3:PutObject on its target, DeleteObjects needs s3:DeleteObject.
"""

from __future__ import annotations

from collections.abc import Mapping

# s3:ListBucket on the bucket makes S3 answer a missing key with 404 instead of 403; the code's
# "already gone" branches (late or repeated deliveries) depend on that.
_404_NOT_403 = "s3:ListBucket"

ADAPTER_CALLS: Mapping[str, frozenset[str]] = {
    # S3Storage (imagepipe.adapters.s3)
    "S3Storage.presign_upload": frozenset({"s3:PutObject"}),  # the browser's POST is signed by us
    "S3Storage.size": frozenset({"s3:GetObject", _404_NOT_403}),
    "S3Storage.download": frozenset({"s3:GetObject", _404_NOT_403}),
    "S3Storage.put": frozenset({"s3:PutObject"}),
    "S3Storage.copy": frozenset({"s3:GetObject", "s3:PutObject", _404_NOT_403}),
    "S3Storage.delete": frozenset({"s3:ListBucket", "s3:DeleteObject"}),
    "S3Storage.staged_before": frozenset({"s3:ListBucket", "s3:GetObject"}),
    "S3Storage.restage": frozenset({"s3:GetObject", "s3:PutObject", _404_NOT_403}),
    # S3MultipartUploads (imagepipe.adapters.multipart): PutObject covers creating, the
    # presigned UploadPart and completing.
    "S3MultipartUploads.create": frozenset({"s3:PutObject"}),
    "S3MultipartUploads.presign_part": frozenset({"s3:PutObject"}),
    "S3MultipartUploads.parts": frozenset({"s3:ListMultipartUploadParts"}),
    "S3MultipartUploads.complete": frozenset({"s3:PutObject"}),
    "S3MultipartUploads.abort": frozenset({"s3:AbortMultipartUpload"}),
    # S3ImageUrls (imagepipe.adapters.s3): presigned GETs, when no CDN is configured
    "S3ImageUrls.url": frozenset({"s3:GetObject"}),
    # DynamoImageRepository (imagepipe.adapters.dynamodb)
    "DynamoImageRepository.get": frozenset({"dynamodb:GetItem"}),
    "DynamoImageRepository.get_many": frozenset({"dynamodb:BatchGetItem"}),
    # Reading a claim whose record is gone drops the claim.
    "DynamoImageRepository.find_by_hash": frozenset({"dynamodb:GetItem", "dynamodb:DeleteItem"}),
    # Record then claim; a lost claim deletes the record and reads the winner.
    "DynamoImageRepository.create": frozenset(
        {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:GetItem"}
    ),
    "DynamoImageRepository.save": frozenset({"dynamodb:PutItem"}),
    "DynamoImageRepository.index_phash": frozenset({"dynamodb:BatchWriteItem"}),
    "DynamoImageRepository.unindex_phash": frozenset({"dynamodb:BatchWriteItem"}),
    "DynamoImageRepository.similar": frozenset({"dynamodb:Query"}),
    # The index's keys, then the records.
    "DynamoImageRepository.processing_before": frozenset(
        {"dynamodb:Query", "dynamodb:BatchGetItem"}
    ),
    "DynamoImageRepository.release_hash": frozenset({"dynamodb:DeleteItem"}),
    "DynamoImageRepository.delete": frozenset({"dynamodb:DeleteItem"}),
    # DynamoSessionLinkRepository
    "DynamoSessionLinkRepository.link": frozenset({"dynamodb:PutItem"}),
    "DynamoSessionLinkRepository.unlink": frozenset({"dynamodb:DeleteItem"}),
    "DynamoSessionLinkRepository.page": frozenset({"dynamodb:Query"}),
    "DynamoSessionLinkRepository.sessions_of": frozenset({"dynamodb:Query"}),
    "DynamoSessionLinkRepository.linked": frozenset({"dynamodb:BatchGetItem"}),
    # EventBridgePublisher (imagepipe.adapters.events)
    "EventBridgePublisher.publish": frozenset({"events:PutEvents"}),
    # SqsJobQueue (imagepipe.adapters.sqs)
    "SqsJobQueue.send": frozenset({"sqs:SendMessage"}),
    # DynamoConnectionRepository (live-updates sockets and spent tickets)
    "DynamoConnectionRepository.claim_ticket": frozenset({"dynamodb:PutItem"}),
    "DynamoConnectionRepository.add": frozenset({"dynamodb:PutItem"}),
    "DynamoConnectionRepository.remove": frozenset({"dynamodb:DeleteItem"}),
    "DynamoConnectionRepository.of_session": frozenset({"dynamodb:Query"}),
    # ApiGatewaySockets (imagepipe.adapters.sockets)
    "ApiGatewaySockets.post": frozenset({"execute-api:ManageConnections"}),
    # SecretKey (imagepipe.adapters.secrets)
    "SecretKey.__call__": frozenset({"secretsmanager:GetSecretValue"}),
    # S3VectorIndex (imagepipe.adapters.vectors)
    "S3VectorIndex.put": frozenset({"s3vectors:PutVectors"}),
    "S3VectorIndex.delete": frozenset({"s3vectors:DeleteVectors"}),
    "S3VectorIndex.get": frozenset({"s3vectors:GetVectors"}),
    "S3VectorIndex.query": frozenset({"s3vectors:QueryVectors"}),
    # Amazon Bedrock (imagepipe.adapters.bedrock): Converse is authorised as InvokeModel.
    "BedrockLabeler.enrich": frozenset({"bedrock:InvokeModel"}),
    "TitanEmbedder.image": frozenset({"bedrock:InvokeModel"}),
    "TitanEmbedder.text": frozenset({"bedrock:InvokeModel"}),
    # RekognitionLabeler (imagepipe.adapters.labels)
    "RekognitionLabeler.enrich": frozenset({"rekognition:DetectLabels"}),
    # Not ours, but run with the function's role: Powertools' DynamoDB idempotency store, and
    # Lambda delivering a failed asynchronous invocation to its OnFailure destination.
    "powertools.idempotency": frozenset(
        {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    ),
    "lambda.on_failure_destination": frozenset({"sqs:SendMessage"}),
    # Our subclass of that store (ambiguous in-progress writes), around Powertools' own put.
    "IdempotencyStore._put_record": frozenset({"dynamodb:PutItem"}),
}

_IMAGES_API = (
    "DynamoImageRepository.get",
    "DynamoImageRepository.get_many",
    "DynamoImageRepository.similar",
    "DynamoImageRepository.save",  # marks the image `deleting` first
    "DynamoImageRepository.release_hash",
    "DynamoImageRepository.unindex_phash",
    "DynamoImageRepository.delete",
    "DynamoSessionLinkRepository.page",
    "DynamoSessionLinkRepository.sessions_of",
    "DynamoSessionLinkRepository.unlink",
    "S3ImageUrls.url",
    "S3Storage.delete",
    "S3MultipartUploads.abort",  # DELETE /uploads/{id}, or an image deleted mid-upload
    "EventBridgePublisher.publish",  # Image Deleted
    "SecretKey.__call__",  # signs live-updates tickets
)

# Per function (template logical id): the adapter methods its code calls, each with the template
# condition it depends on (None: always).
FUNCTION_CALLS: Mapping[str, Mapping[str, str | None]] = {
    "PresignUploadFunction": dict.fromkeys(
        (
            "DynamoImageRepository.find_by_hash",
            "DynamoImageRepository.get",
            "DynamoImageRepository.create",
            "DynamoImageRepository.save",  # a failed upload is presigned again
            "DynamoSessionLinkRepository.link",
            "DynamoSessionLinkRepository.unlink",  # a link to an image deleted meanwhile
            "S3Storage.presign_upload",
            # Multipart: start (a loser of a race aborts its own), sign parts, list, complete;
            # the HEAD tells an upload completed from one given up.
            "S3MultipartUploads.create",
            "S3MultipartUploads.presign_part",
            "S3MultipartUploads.parts",
            "S3MultipartUploads.complete",
            "S3MultipartUploads.abort",
            "S3Storage.size",
        )
    ),
    "ImagesApiFunction": {
        **dict.fromkeys(_IMAGES_API),
        "S3VectorIndex.delete": "IndexImages",
        "S3VectorIndex.get": "IndexImages",
        "S3VectorIndex.query": "IndexImages",
        "DynamoSessionLinkRepository.linked": "IndexImages",
        "TitanEmbedder.text": "UseBedrockEmbeddings",
    },
    "IngestFunction": dict.fromkeys(
        (
            "powertools.idempotency",
            "IdempotencyStore._put_record",
            "DynamoImageRepository.get",
            "DynamoImageRepository.save",
            "S3Storage.size",
            "S3Storage.download",
            "S3Storage.put",
            "S3Storage.copy",
            "S3Storage.delete",
            "SqsJobQueue.send",
            "EventBridgePublisher.publish",
            "lambda.on_failure_destination",
        )
    ),
    "VariantsFunction": dict.fromkeys(
        (
            "DynamoImageRepository.get",
            "DynamoImageRepository.save",
            "S3Storage.download",
            "S3Storage.put",
            "S3Storage.delete",
            "EventBridgePublisher.publish",
        )
    ),
    "SweeperFunction": dict.fromkeys(
        (
            "DynamoImageRepository.processing_before",
            "DynamoImageRepository.get",
            "DynamoImageRepository.save",
            "SqsJobQueue.send",
            "EventBridgePublisher.publish",
            "S3Storage.staged_before",
            "S3Storage.restage",
            "S3Storage.delete",
        )
    ),
    "EventsSocketFunction": dict.fromkeys(
        (
            "SecretKey.__call__",
            "DynamoConnectionRepository.claim_ticket",
            "DynamoConnectionRepository.add",
            "DynamoConnectionRepository.remove",
        )
    ),
    "EventsNotifierFunction": dict.fromkeys(
        (
            "DynamoSessionLinkRepository.sessions_of",
            "DynamoConnectionRepository.of_session",
            "DynamoConnectionRepository.remove",
            "ApiGatewaySockets.post",
        )
    ),
    "MetadataFunction": {
        "DynamoImageRepository.get": None,
        "DynamoImageRepository.save": None,
        "DynamoImageRepository.index_phash": None,
        "DynamoImageRepository.unindex_phash": None,
        "S3Storage.download": None,
        "EventBridgePublisher.publish": None,
        "RekognitionLabeler.enrich": "UseRekognition",
        "S3VectorIndex.put": "IndexImages",
        "S3VectorIndex.delete": "IndexImages",
        "DynamoSessionLinkRepository.sessions_of": "IndexImages",
        "BedrockLabeler.enrich": "UseBedrockLabels",
        "TitanEmbedder.image": "UseBedrockEmbeddings",
    },
}


def required_actions(function: str, conditions: Mapping[str, bool]) -> frozenset[str]:
    """The IAM actions a function needs when the template's conditions have these values."""
    actions: set[str] = set()
    for call, condition in FUNCTION_CALLS[function].items():
        if condition is None or conditions[condition]:
            actions |= ADAPTER_CALLS[call]
    return frozenset(actions)
