"""``curate ablate RECIPE``: does curation buy a better model per training token? Train and compare.

The recipe runs once (no training) for its curated output and its held-out split. From the same
read pool (every parseable row, the held-out rows removed by id) the variants are drawn:

- ``raw``: the whole pool, no filtering and no mixing control;
- ``random``: a seeded random subset of the curated size (Xia et al. 2025's hard-to-beat baseline);
- ``longest``: the k rows with the longest answers (Zhao et al. 2024);
- ``curated``: the recipe's output;
- ``no-<stage>``: the recipe re-run without one named stage (leave-one-out).

Every variant trains the recipe's ``train:`` settings for the SAME number of optimizer steps (the
batch size and ``max_len`` fixed, so the token budget is bounded by steps x batch x max_len), for each
seed, and is evaluated on the same held-out rows (loss per domain on assistant tokens) and MCQ items
(``eval/mcq.jsonl``: items from the split plus the recipe's ``eval.mcq`` sets, accuracy by answer
likelihood). The untrained base model is evaluated once; forgetting is the change of the general
loss against it. A variant bigger than steps x batch rows is cut to a seeded uniform sample of that
many rows first: training S steps on the shuffled pool sees such a sample anyway, and rows never
seen are not tokenized.

Writes ``<run>/ablate/ablation.json``, ``ablation.md`` and ``ablation.svg`` (see
``curate.report.ablation``). Only ``app.py`` and ``cli/`` import this module (it imports ``train/``).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from curate.errors import InputError
from curate.recipe import Recipe

log = logging.getLogger(__name__)
VARIANTS = ("raw", "random", "longest", "curated")
METRICS = ("mcq_accuracy", "forgetting_pct", "tokens_seen", "train_seconds", "eval_seconds", "train_rows")


def answer_chars() -> pl.Expr:
    """Characters of a row's answers: assistant turns of a chat row, the text of a document."""
    m = pl.element()
    per_turn = pl.when(m.struct.field("role") == "assistant").then(m.struct.field("content").str.len_chars())
    chat = pl.col("messages").list.eval(per_turn.otherwise(0)).list.sum()
    return pl.when(pl.col("kind") == "text").then(pl.col("text").str.len_chars()).otherwise(chat).fill_null(0)


def longest(
    pool: pl.DataFrame, k: int, fits: Callable[[pl.DataFrame], list[bool]] | None = None
) -> pl.DataFrame:
    """The ``k`` rows with the longest answers that ``fits`` (the trainer would not drop them).

    Zhao et al. pick the longest responses that fit the context; without the check most of the
    longest ShareGPT conversations are dropped by the trainer as too long and the variant trains on
    a handful of rows. Candidates are checked in order, so only about k rows are tokenized.
    """
    ranked = (
        pool.with_columns(_len=answer_chars()).sort(["_len", "id"], descending=[True, False]).drop("_len")
    )
    if fits is None:
        return ranked.head(k)
    keep: list[int] = []
    for start in range(0, ranked.height, 512):  # batches: the cheap bound runs on many rows at once
        if len(keep) >= k:
            break
        ok = fits(ranked.slice(start, 512))
        keep += [start + i for i, good in enumerate(ok) if good][: k - len(keep)]
    return ranked[keep]


def variant_frames(
    pool: pl.DataFrame,
    curated: pl.DataFrame,
    names: list[str],
    *,
    seed: int,
    fits: Callable[[pl.DataFrame], list[bool]] | None = None,
) -> dict[str, pl.DataFrame]:
    """The baseline variants drawn from ``pool`` at the curated size k (``raw`` is the pool itself)."""
    k = curated.height
    out: dict[str, pl.DataFrame] = {}
    for name in names:
        if name == "raw":
            out[name] = pool
        elif name == "random":
            out[name] = pool.sample(n=min(k, pool.height), seed=seed)
        elif name == "longest":
            out[name] = longest(pool, k, fits)
        elif name == "curated":
            out[name] = curated
        else:
            raise InputError(f"unknown variant {name!r}", hint=f"one of {', '.join(VARIANTS)}")
    return out


def seed_stages(parent: Path, child: Path, upto: int) -> list[str]:
    """Hard-link the parent run's finished stage dirs ``00``..``upto-1`` into ``child``.

    The stages before the left-out one are the same specs on the same input, so their fingerprints
    match and the child run reuses them instead of recomputing (on legal-zh the stages up to the split
    cost ~8 min on the loaded 2-core machine: semantic dedup alone 269 s). Links, not copies: no disk.
    """
    import os
    import shutil

    done: list[str] = []
    for sdir in sorted((parent / "stages").glob("[0-9][0-9]-*")):
        target = child / "stages" / sdir.name
        if int(sdir.name[:2]) >= upto or target.exists() or not (sdir / "_done.json").exists():
            continue
        shutil.copytree(sdir, target, copy_function=os.link)
        done.append(sdir.name)
    return done


def _leave_out(
    recipe: Recipe, stage: str, root: Path, eval_ids: pl.Series, parent: Path | None = None
) -> pl.DataFrame:
    """The recipe's output without ``stage`` (every stage of that name), outside the held-out rows.

    With ``parent`` (the full recipe's run dir) the stages before ``stage`` are reused from it.
    """
    from curate.app import run as run_app

    names = [s.name for s in recipe.stages]
    if stage not in names:
        raise InputError(
            f"--leave-out {stage}: the recipe has no such stage", hint=f"one of {', '.join(names)}"
        )
    if stage == "split":
        raise InputError("--leave-out split: the held-out split is what every variant is measured on")
    stages = [s for s in recipe.stages if s.name != stage]
    r2 = recipe.model_copy(update={"stages": stages, "name": f"{recipe.name}-no-{stage}"})
    if parent is not None:
        seed_stages(parent, root / f"no-{stage}", names.index(stage) + 1)
    res = run_app(r2, out=root / f"no-{stage}", train=False, progress=False)
    return res.output.filter(~pl.col("id").is_in(eval_ids.implode()))


class Evaluator:
    """Held-out loss per domain and MCQ accuracy for one model, on sets fixed for the whole ablation."""

    def __init__(self, eval_df: pl.DataFrame, mcq: list[dict[str, Any]], cfg: Any, tokenizer: Any) -> None:
        from curate.cache import cache_dir
        from curate.train.cache import tokenize

        self.cfg, self.tok, self.mcq = cfg, tokenizer, mcq
        cache = Path(cfg.cache_dir) if cfg.cache_dir else cache_dir("tokenized")
        self.ds = tokenize(
            eval_df, tokenizer, max_len=cfg.max_len, last_turn_only=cfg.last_turn_only, cache_dir=cache
        )
        # chat rows by domain (loss on assistant tokens); documents apart, as "<domain>_docs" (LM loss)
        keys = eval_df.select(
            pl.when(pl.col("kind") == "text").then(pl.col("domain") + "_docs").otherwise(pl.col("domain"))
        )
        domain = dict(zip(eval_df["id"].to_list(), keys.to_series().to_list(), strict=True))
        self.groups: dict[str, list[int]] = {}
        for i in range(len(self.ds)):
            self.groups.setdefault(domain.get(self.ds.row_ids(i)[0], "?"), []).append(i)
        # held-out rows the trainer's tokenizer drops at max_len (e.g. LawBench 2-5/2-7, whose last
        # turn alone is longer): no variant can train on them, so none is measured on them either
        self.dropped: dict[str, int] = {}
        for d in self.ds.stats.get("dropped_rows", []):
            key = domain.get(d["id"], "?")
            self.dropped[key] = self.dropped.get(key, 0) + 1

    def __call__(self, model: Any) -> dict[str, Any]:
        from curate.train.assess import score_mcq
        from curate.train.evaluate import eval_loss
        from curate.train.optim import runtime

        t0 = time.perf_counter()
        rt = runtime(self.cfg)
        model.to(rt.device)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.tok.eos_token_id
        kw = {"rt": rt, "micro_batch_tokens": self.cfg.micro_batch_tokens, "packing": False, "varlen": False}
        out: dict[str, Any] = {
            f"loss_{d}": round(float(eval_loss(model, self.ds, indices=idx, pad_id=pad, **kw)), 5)
            for d, idx in sorted(self.groups.items())
        }
        if self.mcq:
            scores = score_mcq(model, self.tok, self.mcq, max_len=self.cfg.max_len, score="mean")
            hits = [int(np.argmax(s)) == it["answer_index"] for s, it in zip(scores, self.mcq, strict=True)]
            out["mcq_accuracy"] = round(float(np.mean(hits)), 4)
            by: dict[str, list[bool]] = {}
            for h, it in zip(hits, self.mcq, strict=True):
                by.setdefault(it.get("set") or "held_out", []).append(h)
            out["mcq_by_set"] = {k: round(float(np.mean(v)), 4) for k, v in sorted(by.items())}
            # flat too, so the summary gives each set's mean +- sd (LawBench's own items are the goal)
            out.update({f"mcq_{k}": v for k, v in out["mcq_by_set"].items()})
        out["eval_seconds"] = round(time.perf_counter() - t0, 2)
        return out


def _fits(tokenizer: Any, cfg: Any) -> Callable[[pl.DataFrame], list[bool]]:
    """Per row, True when the trainer keeps it at ``cfg.max_len`` (documents are cut into blocks: always).

    A row whose last answer alone has more than ``max_len`` tokens cannot fit: that bound is one
    batched encode of the answers; only rows under it get the exact (per-row) ChatEncoder check.
    """
    from curate.chat import ChatEncoder
    from curate.chat.encode import Encoded

    enc = ChatEncoder(tokenizer, max_len=cfg.max_len, last_turn_only=cfg.last_turn_only)
    last = (
        pl.col("messages")
        .list.eval(
            pl.element().filter(pl.element().struct.field("role") == "assistant").struct.field("content")
        )
        .list.last()
        .fill_null("")
    )

    def fits(batch: pl.DataFrame) -> list[bool]:
        answers = batch.select(last.alias("a"))["a"].to_list()
        sizes = [len(x) for x in tokenizer(answers, add_special_tokens=False)["input_ids"]]
        return [
            row["kind"] == "text" or (n <= cfg.max_len and isinstance(enc.encode(row), Encoded))
            for row, n in zip(batch.iter_rows(named=True), sizes, strict=True)
        ]

    return fits


def _mcq_items(run_dir: Path, n: int | None, seed: int, sets: list[str] | None) -> list[dict[str, Any]]:
    from curate.train.assess import _cap, _jsonl

    return _cap(_jsonl(run_dir / "eval" / "mcq.jsonl"), n, seed, sets)


def _summary(runs: list[dict[str, Any]], base: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Mean, sample standard deviation and n of every numeric metric, per variant."""
    out: dict[str, dict[str, Any]] = {}
    keys = sorted({k for r in runs for k, v in r.items() if isinstance(v, int | float) and k != "seed"})
    for v in dict.fromkeys(r["variant"] for r in runs):
        mine = [r for r in runs if r["variant"] == v]
        out[v] = {}
        for k in keys:
            xs = np.array([r[k] for r in mine if isinstance(r.get(k), int | float)], dtype=float)
            if len(xs):
                sd = float(xs.std(ddof=1)) if len(xs) > 1 else 0.0
                out[v][k] = {"mean": round(float(xs.mean()), 5), "sd": round(sd, 5), "n": len(xs)}
    out["base"] = {k: {"mean": v, "sd": 0.0, "n": 1} for k, v in base.items() if isinstance(v, int | float)}
    return out


def ablate(
    recipe: Recipe,
    *,
    seeds: int = 3,
    variants: list[str] | None = None,
    leave_out: list[str] | None = None,
    out: Path | None = None,
    steps: int | None = None,
    mcq_items: int | None = None,
    eval_rows: int | None = None,
    mcq_sets: list[str] | None = None,
) -> dict[str, Any]:
    """Build the variants, train each for the same steps per seed, evaluate all on the same sets."""
    from curate.app import run as run_app
    from curate.models import load_causal_lm, load_tokenizer
    from curate.pipeline.rundir import RunDir
    from curate.report.ablation import write_ablation
    from curate.report.html import write_report
    from curate.train import run_training
    from curate.train.assess import load_models

    if recipe.train is None:
        raise InputError(
            "ablate needs the recipe's train: block", hint="add train: {model: smollm2-135m, ...}"
        )
    if seeds < 1:
        raise InputError("--seeds must be at least 1")
    names = list(variants or VARIANTS)
    t_start = time.perf_counter()
    res = run_app(recipe, out=out, train=False)
    root = res.run_dir.root / "ablate"
    root.mkdir(parents=True, exist_ok=True)
    eval_df = res.side.get("eval")
    if eval_df is None or not eval_df.height:
        raise InputError(
            "ablate needs a held-out split to measure every variant on",
            hint="add a split stage, e.g. - split: {eval_per_domain: 50}",
        )
    eval_ids = eval_df["id"]  # every held-out row stays out of every variant, measured or not
    eval_rows = eval_rows if eval_rows is not None else recipe.eval.rows_per_domain
    mcq_sets = mcq_sets or recipe.eval.mcq_sets
    if eval_rows is not None:  # a seeded sample per domain keeps CPU evaluation inside the budget
        eval_df = eval_df.filter(
            pl.int_range(pl.len()).shuffle(seed=recipe.seed).over("domain", "kind") < eval_rows
        )
    pool = RunDir.read_kept(res.run_dir.stage_dir(0, "read")).filter(~pl.col("id").is_in(eval_ids.implode()))
    curated = res.output.filter(~pl.col("id").is_in(eval_ids.implode()))
    for n in names:
        if n not in VARIANTS:
            raise InputError(f"unknown variant {n!r}", hint=f"one of {', '.join(VARIANTS)}")
    base_cfg = recipe.train_config
    tok = load_tokenizer(base_cfg.model, trust_remote_code=base_cfg.trust_remote_code)
    frames = variant_frames(pool, curated, names, seed=recipe.seed, fits=_fits(tok, base_cfg))
    for stage in leave_out or []:
        frames[f"no-{stage}"] = _leave_out(recipe, stage, root, eval_ids, parent=res.run_dir.root)
    n_steps = (
        steps
        or base_cfg.max_steps
        or max(1, math.ceil(curated.height * base_cfg.epochs / base_cfg.batch_size))
    )
    budget_rows = n_steps * base_cfg.batch_size
    mcq = _mcq_items(res.run_dir.root, mcq_items or recipe.eval.max_mcq_items, recipe.seed, mcq_sets)
    evaluator = Evaluator(eval_df, mcq, base_cfg, tok)
    log.info(
        "ablate: %d held-out rows %s, %d MCQ items; variants %s; %d steps x %d rows",
        eval_df.height,
        {d: len(i) for d, i in evaluator.groups.items()},
        len(mcq),
        {k: v.height for k, v in frames.items()},
        n_steps,
        base_cfg.batch_size,
    )

    runs: list[dict[str, Any]] = []
    base: dict[str, Any] = {}

    def result() -> dict[str, Any]:
        return {
            "recipe": recipe.name,
            "run_dir": str(res.run_dir.root),
            "steps": n_steps,
            "batch_size": base_cfg.batch_size,
            "max_len": base_cfg.max_len,
            "token_budget": n_steps * base_cfg.batch_size * base_cfg.max_len,
            "seeds": seeds,
            "model": base_cfg.model,
            "eval_rows": eval_df.height,
            "eval_domains": {d: len(i) for d, i in evaluator.groups.items()},
            "eval_dropped": evaluator.dropped,
            "mcq_sets": dict(Counter(it.get("set") or "held_out" for it in mcq)),
            "mcq_items": len(mcq),
            "pool_rows": pool.height,
            "curated_rows": curated.height,
            "base": base,
            "runs": runs,
            "summary": _summary(runs, base),
            "seconds": round(time.perf_counter() - t_start, 1),
            "runs_planned": len(frames) * seeds,
            "complete": len(runs) == len(frames) * seeds,
        }

    base = evaluator(load_causal_lm(base_cfg.model).eval())
    log.info("ablate: base model %s", base)
    # seed-major: an ablation stopped early (ablation.json is rewritten after every run) has whole
    # seeds of every variant, not every seed of the first variants
    for s in range(seeds):
        for name, df in frames.items():
            seed = recipe.seed + s
            train_df = df if df.height <= budget_rows else df.sample(n=budget_rows, seed=seed)
            cfg = base_cfg.model_copy(
                update={
                    "seed": seed,
                    "max_steps": n_steps,
                    "epochs": max(base_cfg.epochs, math.ceil(budget_rows / max(train_df.height, 1))),
                    "sample_count": 0,
                    "merge": False,
                    "eval_steps": None,
                    "save_steps": None,
                }
            )
            vdir = root / f"{name}-s{seed}"
            t0 = time.perf_counter()
            summary = run_training(train_df, eval_df.head(0), cfg, vdir / "train", progress=False)
            train_s = time.perf_counter() - t0
            model, _, _ = load_models(vdir, summary, cfg)
            m = evaluator(model)
            del model
            row = {
                "variant": name,
                "seed": seed,
                "pool_rows": df.height,
                "train_rows": train_df.height,
                "steps": summary["steps"],
                "tokens_seen": summary["tokens_seen"],
                "train_seconds": round(train_s, 2),
                **m,
            }
            if "loss_general" in m and "loss_general" in base:
                row["forgetting_pct"] = round(100 * (m["loss_general"] / base["loss_general"] - 1), 3)
            runs.append(row)
            write_ablation(result(), root)  # after every run: a killed ablation keeps what it measured
            log.info(
                "ablate: %s seed %d: %s", name, seed, {k: v for k, v in row.items() if k != "mcq_by_set"}
            )
    final = result()
    write_ablation(final, root)
    write_report(res.run_dir)  # the run's report gains the ablation section
    return final
