"""Amazon Bedrock for search: a description and tags from a multimodal model through the
Converse API (`LabelsProvider=bedrock`), and Titan Multimodal Embeddings G1 through
InvokeModel (`EmbeddingProvider=bedrock`): images and query texts in one space, so a text finds
images by what they show. Both on the metadata job's preview (a JPEG of at most 1024 px)."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from imagepipe.domain.model import Enrichment
from imagepipe.domain.search import EMBEDDING_DIMENSION, MAX_QUERY_LENGTH

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

log = logging.getLogger(__name__)

PROMPT = (
    "Describe this image for a photo search index. Answer with JSON only, no other text: "
    '{"description": "<one sentence of at most 30 words saying what the image shows>", '
    '"tags": ["<3 to 12 lower-case words or short phrases: subjects, setting, colours, '
    'style>"]}'
)
MAX_TAGS = 12
MAX_DESCRIPTION = 300
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class BedrockLabeler:
    """Tags and a one-sentence description from a multimodal model (Converse API)."""

    def __init__(self, client: Callable[[], BedrockRuntimeClient], model_id: str) -> None:
        self._client = client
        self._model_id = model_id

    def enrich(
        self, preview: Callable[[], bytes], *, filename: str, metadata: Mapping[str, Any]
    ) -> Enrichment:
        try:
            response = self._client().converse(
                modelId=self._model_id,
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"image": {"format": "jpeg", "source": {"bytes": preview()}}},
                            {"text": PROMPT},
                        ],
                    }
                ],
                inferenceConfig={"maxTokens": 400, "temperature": 0.0},
            )
        except (ClientError, BotoCoreError) as error:
            log.warning("Converse failed, no description or tags recorded: %s", error)
            return Enrichment(missing=("description", "tags"))
        found = _answer(response)
        if found is None:
            log.warning("the model's answer was not the JSON asked for: %.200r", response)
            return Enrichment(missing=("description", "tags"))
        return found


def _answer(response: Mapping[str, Any]) -> Enrichment | None:
    """The description and tags in the model's text (JSON, perhaps wrapped in prose or a code
    fence); None when there is no such object."""
    content = response.get("output", {}).get("message", {}).get("content", [])
    text = "".join(block.get("text", "") for block in content if isinstance(block, dict))
    match = _JSON_OBJECT.search(text)
    if match is None:
        return None
    try:
        data = json.loads(match[0])
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    description = data.get("description")
    description = description.strip()[:MAX_DESCRIPTION] if isinstance(description, str) else None
    raw_tags = data.get("tags")
    if not isinstance(raw_tags, list):
        raw_tags = []
    tags = [t.strip().lower() for t in raw_tags if isinstance(t, str) and t.strip()]
    missing = tuple(
        name for name, value in (("description", description), ("tags", tags)) if not value
    )
    return Enrichment(
        tags=tuple(dict.fromkeys(tags))[:MAX_TAGS], description=description or None, missing=missing
    )


class TitanEmbedder:
    """Titan Multimodal Embeddings G1: the image's vector from its pixels, a query's from its
    text, in one space of EMBEDDING_DIMENSION."""

    def __init__(self, client: Callable[[], BedrockRuntimeClient], model_id: str) -> None:
        self._client = client
        self._model_id = model_id

    def image(self, preview: Callable[[], bytes], text: str) -> list[float] | None:
        """None when Bedrock could not answer (throttled, refused) or answered something that
        is not an embedding: the image completes and its record lists the embedding as
        missing (a job failing on it would be retried until the image timed out)."""
        try:
            return self._embed({"inputImage": base64.b64encode(preview()).decode()})
        except (ClientError, BotoCoreError) as error:
            log.warning("InvokeModel failed, the image is not indexed: %s", error)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("InvokeModel's answer is not an embedding, not indexed: %r", error)
        return None

    def text(self, query: str) -> list[float] | None:
        words = query.strip()[:MAX_QUERY_LENGTH]
        return self._embed({"inputText": words}) if words else None

    def _embed(self, body: dict[str, Any]) -> list[float]:
        body["embeddingConfig"] = {"outputEmbeddingLength": EMBEDDING_DIMENSION}
        response = self._client().invoke_model(
            modelId=self._model_id,
            body=json.dumps(body).encode(),
            contentType="application/json",
            accept="application/json",
        )
        answer = json.loads(response["body"].read())
        return [float(v) for v in answer["embedding"]]
