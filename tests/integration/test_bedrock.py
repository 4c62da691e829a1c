"""The Bedrock adapters against the documented request and response shapes: a real
bedrock-runtime client whose calls botocore's Stubber answers (no network). The Stubber
checks each request against the service model (and the parameters we expect), and each
response we give it against the model's output shape."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from imagepipe.adapters.bedrock import PROMPT, BedrockLabeler, TitanEmbedder
from imagepipe.domain.model import Enrichment
from imagepipe.domain.search import EMBEDDING_DIMENSION

JPEG = b"\xff\xd8\xff\xe0 a preview"
LABELS_MODEL = "amazon.nova-lite-v1:0"
EMBEDDING_MODEL = "amazon.titan-embed-image-v1"


@pytest.fixture
def client() -> Iterator[tuple[Any, Stubber]]:
    bedrock = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    with Stubber(bedrock) as stubber:
        yield bedrock, stubber
        stubber.assert_no_pending_responses()


def converse_answer(text: str) -> dict[str, Any]:
    """A Converse response as the API reference shows it."""
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1510, "outputTokens": 41, "totalTokens": 1551},
        "metrics": {"latencyMs": 812},
    }


def converse_request() -> dict[str, Any]:
    return {
        "modelId": LABELS_MODEL,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"image": {"format": "jpeg", "source": {"bytes": JPEG}}},
                    {"text": PROMPT},
                ],
            }
        ],
        "inferenceConfig": {"maxTokens": 400, "temperature": 0.0},
    }


def test_the_labeler_sends_the_preview_and_reads_description_and_tags(
    client: tuple[Any, Stubber],
) -> None:
    bedrock, stubber = client
    # Given a model that answers with the JSON asked for, in a code fence
    answer = (
        '```json\n{"description": "A red kayak on a calm lake at sunset.", '
        '"tags": ["Kayak", "lake", "sunset", "red", "kayak", ""]}\n```'
    )
    stubber.add_response("converse", converse_answer(answer), converse_request())
    # When it labels the image
    found = BedrockLabeler(lambda: bedrock, LABELS_MODEL).enrich(
        lambda: JPEG, filename="IMG_1.jpg", metadata={}
    )
    # Then the description and the tags (lower-case, unique, none empty) are recorded
    assert found == Enrichment(
        tags=("kayak", "lake", "sunset", "red"),
        description="A red kayak on a calm lake at sunset.",
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("I cannot help with that.", Enrichment(missing=("description", "tags"))),
        (
            '{"description": "A cat.", "tags": "cat"}',
            Enrichment(description="A cat.", missing=("tags",)),
        ),
        ('{"tags": ["cat"]}', Enrichment(tags=("cat",), missing=("description",))),
        ("[1, 2]", Enrichment(missing=("description", "tags"))),
    ],
)
def test_an_answer_that_is_not_what_was_asked_for_is_reported_missing(
    client: tuple[Any, Stubber], answer: str, expected: Enrichment
) -> None:
    bedrock, stubber = client
    stubber.add_response("converse", converse_answer(answer), converse_request())
    labeler = BedrockLabeler(lambda: bedrock, LABELS_MODEL)
    assert labeler.enrich(lambda: JPEG, filename="x", metadata={}) == expected


def test_a_refused_converse_is_reported_missing_not_raised(client: tuple[Any, Stubber]) -> None:
    bedrock, stubber = client
    # Given a model the account has no access to
    stubber.add_client_error(
        "converse",
        service_error_code="AccessDeniedException",
        service_message="You don't have access to the model with the specified model ID.",
        http_status_code=403,
        expected_params=converse_request(),
    )
    labeler = BedrockLabeler(lambda: bedrock, LABELS_MODEL)
    # When it labels / Then the image goes on without a description or tags
    assert labeler.enrich(lambda: JPEG, filename="x", metadata={}) == Enrichment(
        missing=("description", "tags")
    )


def invoke_answer(vector: list[float]) -> dict[str, Any]:
    """An InvokeModel response of Titan Multimodal Embeddings G1: a JSON body."""
    body = json.dumps({"embedding": vector, "inputTextTokenCount": 3}).encode()
    return {"body": StreamingBody(io.BytesIO(body), len(body)), "contentType": "application/json"}


def invoke_request(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "modelId": EMBEDDING_MODEL,
        "body": json.dumps(body).encode(),
        "contentType": "application/json",
        "accept": "application/json",
    }


def test_titan_embeds_the_preview_and_a_query_in_the_indexs_dimension(
    client: tuple[Any, Stubber],
) -> None:
    bedrock, stubber = client
    vector = [0.01 * (n % 7) for n in range(EMBEDDING_DIMENSION)]
    config = {"outputEmbeddingLength": EMBEDDING_DIMENSION}
    image = {"inputImage": base64.b64encode(JPEG).decode(), "embeddingConfig": config}
    stubber.add_response("invoke_model", invoke_answer(vector), invoke_request(image))
    text = {"inputText": "red kayak", "embeddingConfig": config}
    stubber.add_response("invoke_model", invoke_answer(vector), invoke_request(text))
    embedder = TitanEmbedder(lambda: bedrock, EMBEDDING_MODEL)
    # When the image (whose searchable text Titan does not need) and a query are embedded
    # Then both are the model's vectors, as floats
    assert embedder.image(lambda: JPEG, "ignored text") == vector
    assert embedder.text("  red kayak ") == vector
    # And an empty query is not sent at all
    assert embedder.text("   ") is None


def test_a_throttled_image_embedding_leaves_the_image_unindexed(
    client: tuple[Any, Stubber],
) -> None:
    bedrock, stubber = client
    stubber.add_client_error(
        "invoke_model",
        service_error_code="ThrottlingException",
        service_message="Too many requests, please wait before trying again.",
        http_status_code=429,
        expected_params={
            "modelId": EMBEDDING_MODEL,
            "body": ANY,
            "contentType": "application/json",
            "accept": "application/json",
        },
    )
    embedder = TitanEmbedder(lambda: bedrock, EMBEDDING_MODEL)
    assert embedder.image(lambda: JPEG, "text") is None


@pytest.mark.parametrize(
    "body", [b"not json", b'{"message": "no embedding here"}', b'{"embedding": ["x"]}']
)
def test_an_image_embedding_answer_that_is_not_one_leaves_the_image_unindexed(
    client: tuple[Any, Stubber], body: bytes
) -> None:
    bedrock, stubber = client
    answer = {"body": StreamingBody(io.BytesIO(body), len(body)), "contentType": "application/json"}
    stubber.add_response("invoke_model", answer)
    embedder = TitanEmbedder(lambda: bedrock, EMBEDDING_MODEL)
    assert embedder.image(lambda: JPEG, "text") is None
