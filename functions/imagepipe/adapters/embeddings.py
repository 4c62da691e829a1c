"""Embedders (the `EmbeddingProvider` setting): local (hashed words of the searchable text),
or Bedrock's Titan Multimodal Embeddings (adapters/bedrock.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from imagepipe.adapters.aws import bedrock_client
from imagepipe.adapters.bedrock import TitanEmbedder
from imagepipe.domain.search import text_embedding

if TYPE_CHECKING:
    from imagepipe.domain.ports import Embedder
    from imagepipe.settings import SearchSettings


class LocalEmbedder:
    """Feature hashing of words (imagepipe.domain.search.text_embedding): an image's vector is
    its searchable text's, so a query finds the images it shares words with. No service, no
    preview: the local stack's embedder, lexical where Bedrock's is visual."""

    def image(self, preview: Callable[[], bytes], text: str) -> list[float] | None:
        return text_embedding(text)

    def text(self, query: str) -> list[float] | None:
        return text_embedding(query)


def embedder_of(settings: SearchSettings) -> Embedder | None:
    """The settings' embedder (None: images are not indexed)."""
    if settings.embedding_provider == "local":
        return LocalEmbedder()
    if settings.embedding_provider == "bedrock":
        client = partial(bedrock_client, settings.region)
        return TitanEmbedder(client, settings.embedding_model_id)
    return None
