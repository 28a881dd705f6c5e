"""``curate eval RUN_DIR``: the trained adapter meets the eval sets, beside its base model.

1. Multiple choice (``eval/mcq.jsonl``: items built from the held-out split, plus the recipe's
   ``eval.mcq`` files such as LawBench's): each option is scored by its log-likelihood after the
   prompt rendered with the chat template (``curate.lm.answer_nll``, one row per question x option,
   batched), ``mean`` per token by default (``sum`` favours short options). Accuracy per set, for the
   base model (adapter disabled) and the adapter, with the chance level.
2. Open-ended (``eval/open_ended.jsonl``): the adapter's greedy answers (``max_new_tokens``) are filled
   into ``model_answer`` of the first ``max_open_ended`` prompts; the HTML page shows them next to the
   reference for people to rate.
3. Eval loss per domain: the trainer's masked cross-entropy on the eval rows it used, split by domain.
Results go to ``eval/results.json``, ``manifest.json`` (``eval``) and the report.

Cost on CPU (SmolLM2-135M, fp32, 2 shared cores): every MCQ item costs ``n_choices`` forward passes of
prompt + option, twice (base and adapter); see docs/training.md for measured numbers.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from curate.errors import InputError
from curate.recipe import EvalSpec

log = logging.getLogger(__name__)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _cap(
    items: list[dict[str, Any]], n: int | None, seed: int, sets: list[str] | None = None
) -> list[dict[str, Any]]:
    """At most ``n`` items per set, a seeded sample in file order; only ``sets`` when given."""
    by: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by[it.get("set") or "held_out"].append(i)
    keep: list[int] = []
    for k, idx in by.items():
        if sets and k not in sets:  # e.g. only LawBench's own items: built ones cost most of a CPU eval
            continue
        if n is not None and len(idx) > n:
            rng = np.random.default_rng([seed, sum(k.encode())])
            idx = sorted(rng.choice(idx, size=n, replace=False).tolist())
        keep += idx
    return [items[i] for i in sorted(keep)]


def load_models(run_dir: Path, summary: dict[str, Any], cfg: Any) -> tuple[Any, Any, Any]:
    """(trained model, base model or None when the trained one can switch its adapter off, tokenizer)."""
    from curate.models import load_causal_lm, load_tokenizer

    if summary.get("adapter_dir"):
        from peft import PeftModel

        folder = Path(summary["adapter_dir"])
        model = PeftModel.from_pretrained(load_causal_lm(cfg.model), str(folder)).eval()
        return model, None, load_tokenizer(str(folder))
    folder = Path(summary.get("model_dir") or run_dir / "train" / "model")
    if not folder.exists():
        raise InputError(f"no trained adapter or model under {run_dir / 'train'}", hint="train first")
    return load_causal_lm(str(folder)).eval(), load_causal_lm(cfg.model).eval(), load_tokenizer(str(folder))


def score_mcq(
    model: Any, tokenizer: Any, items: list[dict[str, Any]], *, max_len: int, score: str
) -> list[list[float]]:
    """Per item, each option's log-likelihood after the rendered prompt (``mean`` per token or ``sum``)."""
    from curate.chat import ChatEncoder
    from curate.lm import answer_nll, clip

    enc = ChatEncoder(tokenizer, max_len=max_len)
    rows, owner = [], []
    for k, it in enumerate(items):
        ctx = enc.prompt_ids({"system": it.get("system"), "messages": it["messages"]})
        opts = tokenizer(it["choices"], add_special_tokens=False, split_special_tokens=True)["input_ids"]
        for o in opts:
            rows.append(clip(ctx, o, max_answer=256, max_total=max_len))
            owner.append(k)
    res = answer_nll(model, rows)
    vals = -(res.mean if score == "mean" else res.nll)
    out: list[list[float]] = [[] for _ in items]
    for k, v in zip(owner, vals.tolist(), strict=True):
        out[k].append(round(float(v), 5))
    return out


def generate(
    model: Any, tokenizer: Any, prompts: list[dict[str, Any]], *, max_new_tokens: int, batch: int = 8
) -> list[str]:
    """Greedy answers to chat prompts (``system`` + ``messages``), left-padded batches."""
    import torch

    from curate.chat import ChatEncoder
    from curate.train.evaluate import attention

    enc = ChatEncoder(tokenizer, max_len=10**9)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    out: list[str] = []
    with torch.no_grad(), attention(model, "sdpa"):
        for s in range(0, len(prompts), batch):
            ids = [
                enc.prompt_ids({"system": p.get("system"), "messages": p["messages"]})
                for p in prompts[s : s + batch]
            ]
            width = max(len(x) for x in ids)
            x = torch.tensor([[pad] * (width - len(r)) + r for r in ids], device=device)
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in ids], device=device)
            gen = model.generate(
                input_ids=x,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad,
            )
            out += tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True)
    # an answer cut by max_new_tokens can end inside a CJK character (two byte-level tokens): drop the
    # half character rather than show U+FFFD
    return [a.rstrip("\ufffd").strip() for a in out]


def loss_by_domain(model: Any, base: Any, eval_df: pl.DataFrame, tokenizer: Any, cfg: Any) -> dict[str, Any]:
    """The trainer's eval loss on ``eval_df``, per domain, for the base (adapter off) and the adapter."""
    import contextlib

    from curate.cache import cache_dir
    from curate.train.cache import tokenize
    from curate.train.evaluate import eval_loss
    from curate.train.optim import runtime

    cache = Path(cfg.cache_dir) if cfg.cache_dir else cache_dir("tokenized")
    ds = tokenize(eval_df, tokenizer, max_len=cfg.max_len, last_turn_only=cfg.last_turn_only, cache_dir=cache)
    domain = dict(zip(eval_df["id"].to_list(), eval_df["domain"].to_list(), strict=True))
    groups: dict[str, list[int]] = defaultdict(list)
    for i in range(len(ds)):
        groups[domain.get(ds.row_ids(i)[0], "?")].append(i)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    kw = {"rt": runtime(cfg), "micro_batch_tokens": cfg.micro_batch_tokens, "packing": False}
    kw |= {"varlen": False, "pad_id": pad}
    out = {}
    for d, idx in sorted(groups.items()):
        off = contextlib.nullcontext() if base is not None else model.disable_adapter()
        with off:
            b = eval_loss(base if base is not None else model, ds, indices=idx, **kw)
        a = eval_loss(model, ds, indices=idx, **kw)
        out[d] = {"examples": len(idx), "base": round(b, 6), "adapter": round(a, 6)}
    return out


def evaluate_run(
    run_dir: Path,
    *,
    spec: EvalSpec | None = None,
    manifest: dict[str, Any] | None = None,
    models: tuple[Any, Any, Any] | None = None,
) -> dict[str, Any]:
    """Score a trained run directory; write results next to the eval files, into the manifest and report."""
    from curate.train.config import TrainConfig

    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    mpath = run_dir / "manifest.json"
    if manifest is None:
        if not mpath.exists():
            raise InputError(f"{run_dir} is not a run directory (no manifest.json)", hint="curate run RECIPE")
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    recipe = manifest.get("recipe") or {}
    spec = spec or EvalSpec(**(recipe.get("eval") or {}))
    summary_p = run_dir / "train" / "summary.json"
    if not summary_p.exists():
        raise InputError(f"{run_dir} has no trained model (train/summary.json)", hint="add a train: block")
    summary = json.loads(summary_p.read_text(encoding="utf-8"))
    cfg = TrainConfig(
        **{"seed": manifest.get("seed", 42), **(recipe.get("train") or {"model": summary["model"]})}
    )
    model, base, tok = models or load_models(run_dir, summary, cfg)
    from curate.train.optim import runtime

    device = runtime(cfg).device  # cfg.device and CPU threads, as training chose them
    model.to(device)
    if base is not None:
        base.to(device)
    ev = run_dir / "eval"
    results: dict[str, Any] = {"score": spec.score, "mcq": {}, "eval_loss_by_domain": {}, "open_ended": {}}

    items = _cap(_jsonl(ev / "mcq.jsonl"), spec.max_mcq_items, cfg.seed, spec.mcq_sets)
    if items:
        import contextlib

        kw = {"max_len": cfg.max_len, "score": spec.score}
        with contextlib.nullcontext() if base is not None else model.disable_adapter():
            base_s = score_mcq(base if base is not None else model, tok, items, **kw)
        ad_s = score_mcq(model, tok, items, **kw)
        sets: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"items": 0, "base": 0, "adapter": 0, "chance": 0.0}
        )
        scored = []
        for it, b, a in zip(items, base_s, ad_s, strict=True):
            bp, ap = int(np.argmax(b)), int(np.argmax(a))
            st = sets[it.get("set") or "held_out"]
            st["items"] += 1
            st["base"] += bp == it["answer_index"]
            st["adapter"] += ap == it["answer_index"]
            st["chance"] += 1 / len(it["choices"])
            scored.append(
                {
                    "id": it["id"],
                    "set": it.get("set"),
                    "answer_index": it["answer_index"],
                    "base_pred": bp,
                    "adapter_pred": ap,
                    "base_scores": b,
                    "adapter_scores": a,
                }
            )
        _write_jsonl(ev / "mcq_scores.jsonl", scored)
        results["mcq"] = {
            k: {
                "items": v["items"],
                "base_accuracy": round(v["base"] / v["items"], 4),
                "adapter_accuracy": round(v["adapter"] / v["items"], 4),
                "chance": round(v["chance"] / v["items"], 4),
            }
            for k, v in sorted(sets.items())
        }

    eval_p = run_dir / "output" / "eval.canonical.parquet"
    if eval_p.exists():
        eval_df = pl.read_parquet(eval_p)
        if eval_df.height > cfg.eval_max_rows:  # the rows the trainer evaluated on (same seeded sample)
            eval_df = eval_df.sample(n=cfg.eval_max_rows, seed=cfg.seed)
        results["eval_loss_by_domain"] = loss_by_domain(model, base, eval_df, tok, cfg)

    opened = _jsonl(ev / "open_ended.jsonl")
    if opened and spec.max_open_ended:
        todo = opened[: spec.max_open_ended]
        answers = generate(model, tok, todo, max_new_tokens=spec.max_new_tokens)
        for rec, a in zip(todo, answers, strict=True):
            rec["model_answer"] = a
        _write_jsonl(ev / "open_ended.jsonl", opened)
        from curate.formats.evalset import write_open_ended_html

        write_open_ended_html(opened, ev / "open_ended.html")
        results["open_ended"] = {
            "answered": len(todo),
            "of": len(opened),
            "max_new_tokens": spec.max_new_tokens,
        }
    results["seconds"] = round(time.perf_counter() - t0, 2)
    ev.mkdir(exist_ok=True)
    (ev / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    manifest["eval"] = results
    mpath.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    from curate.pipeline.rundir import RunDir
    from curate.report.html import write_report

    write_report(RunDir(run_dir), manifest)
    return results
