"""Embedders (the `EmbeddingProvider` setting): local (hashed words of the searchable text)."""

from __future__ import annotations

from collections.abc import Callable

from imagepipe.domain.search import text_embedding


class LocalEmbedder:
    """Feature hashing of words (imagepipe.domain.search.text_embedding): an image's vector is
    its searchable text's, so a query finds the images it shares words with. No service, no
    preview: the local stack's embedder, lexical where Bedrock's is visual."""

    def image(self, preview: Callable[[], bytes], text: str) -> list[float] | None:
        return text_embedding(text)

    def text(self, query: str) -> list[float] | None:
        return text_embedding(query)
