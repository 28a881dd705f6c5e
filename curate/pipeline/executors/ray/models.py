"""Model passes on Ray: ``select.ifd``'s, ``score.perplexity``'s and ``score.uncertainty``'s answer
likelihoods and the local ``score.judge``'s next-token log-probabilities in an actor pool, the
model loaded once per actor, the numbers identical to one process's.

One actor class (``ScoreActor``) and one pool runner (``run_items``) serve two kinds of work item:
``nll`` (a slice of ``plan_work``'s batches; ``score_on_ray``) and ``choice`` (a slice of
``plan_choice``'s batches; ``choice_on_ray``). Each stage offers its steps around the model pass:
``select.ifd`` ``scoring_model``/``pairs``/``select``; the two ``score.*`` NLL stages
``passes``/``scored`` (``apply_scores``); the judge ``choices``/``judged`` (``apply_judge``; with an
``endpoint`` the whole stage stays on the driver: its requests are I/O bound and already concurrent).
The rest of this note is IFD's; the others differ only in what the driver does around the pass.

What runs where (``apply_ifd``):

* driver: the pre-experience (``scorer: pre_experienced``: one brief LoRA, one job, as locally;
  its merged model then goes to the actors through the object store), tokenizing (~1 ms a row
  against ~1 s a row of model passes), and the plan of the model passes: the shared-prefix groups
  and length-bucketed batches ``answer_nll`` would run (``lm.likelihood.plan_work``), over the
  distinct pairs, as ``lm.cache.cached_answer_nll`` dedupes them;
* actors (``ActorPoolStrategy``, one per cluster CPU, ``map_batches`` with a callable class): each
  loads the model once (``ModelHub.scorer``: the same fingerprint, so the same score cache as a
  local run), looks its pairs up in the cache, runs the batches it misses with one thread (an
  actor holds one CPU) and appends what it computed to the cache (shards are per process, so
  actors never collide);
* driver: the NLLs scattered back to the pairs, then the score columns and the keep step
  (``select_plan``: ranks over the narrow score column, milliseconds per million rows).

Why batches, not row blocks: a row's NLL depends on the batch it runs in (padding width and batch
shape change the kernels' summation order: up to 8e-9 in fp32 and 2.5e-6 in bf16 on IFD of 51
LawBench rows, cut in blocks of 7 against whole). Running the local plan's very batches keeps
scores equal to the float when the local run used one thread too (``cpu_threads()`` follows the
load: 1 vs 2 threads moved fp32 IFD by up to 1.5e-8). A group split over several work items
runs its shared prefix once per item (``forward_tokens`` counts it). With a partly warm cache the
actors compute the misses of the planned batches, where a local run re-plans the misses alone:
equal to ~1e-8, not to the float. Cost: one model load per actor (SmolLM2 ~20 s from its GGUF);
on 2 cores Ray adds process start-up and gains nothing (docs/scaling.md).
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from curate.lm.cache import ScoreCache, pair_key
from curate.lm.choice import cached_rows, passes, plan_choice, run_choice, store
from curate.lm.likelihood import AnswerNLL, Row, Work, plan_work, run_work
from curate.lm.scorer import CPU_BATCH_TOKENS
from curate.models import ModelHub
from curate.pipeline.executors.ray.session import cluster_cpus
from curate.pipeline.stage import StageResult

log = logging.getLogger(__name__)
ITEMS_PER_ACTOR = 4  # work items per actor: enough to even out unequal batches, few prefix reruns


class ScoreActor:
    """One scorer per actor (``ModelHub.scorer``: weights loaded once), and its score cache."""

    def __init__(self, name: str, quantize: str | None, preloaded: list[Any], cache_dir: Any) -> None:
        import ray

        pre = ray.get(preloaded[0]) if preloaded else {}
        self.scorer = ModelHub(preloaded=pre).scorer(name, quantize=quantize)
        self.cache = ScoreCache(cache_dir, self.scorer.fingerprint) if cache_dir else None
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        self.threads = max(1, int(cpus))

    def __call__(self, batch: pa.Table) -> pa.Table:
        out = []
        for b in batch.column("item").to_pylist():
            kind, *args = pickle.loads(b)
            out.append(pickle.dumps(self.run(*args) if kind == "nll" else self.choice(*args)))
        return pa.table({"seq": batch.column("seq"), "result": pa.array(out, pa.large_binary())})

    def choice(
        self, batches: list[list[int]], contexts: list[list[int]], candidates: list[int]
    ) -> dict[str, Any]:
        """Next-token log-probabilities of ``candidates`` after ``contexts`` (``score.judge``),
        computing only the cache's misses, in the planned batches (minus the hits)."""
        hit = np.zeros(len(contexts), dtype=bool)
        if self.cache:
            logp, hit, keys = cached_rows(self.cache, contexts, candidates)
        todo = [[i for i in b if not hit[i]] for b in batches]
        todo = [b for b in todo if b]
        if todo:
            got = run_choice(self.scorer.model, contexts, todo, candidates, threads=self.threads)
            if not self.cache:
                logp = got
            else:
                rows = [i for b in todo for i in b]
                logp[rows] = got[rows]
                store(self.cache, keys, logp, rows)
        elif not self.cache:
            logp = np.full((len(contexts), len(candidates)), np.nan)
        return {"logp": logp, "hit": hit, "pid": os.getpid(), "fingerprint": self.scorer.fingerprint,
                "threads": self.threads}  # fmt: skip

    def run(self, p: int, batches: list[list[int]], rows: list[Row], keys: list[bytes]) -> dict[str, Any]:
        """NLLs of ``rows`` (an item's pairs), computing only the cache's misses, in the planned
        batches (minus the hits)."""
        n = len(rows)
        if self.cache:
            nll, tok, hit = self.cache.get(keys)
        else:
            nll, tok, hit = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        todo = [[i for i in b if not hit[i]] for b in batches]
        work: Work = [(p, [b for b in todo if b])]
        fwd, miss = 0, np.flatnonzero(~hit)  # rows in no batch (nothing to score) stay 0, 0
        if work[0][1]:
            res = run_work(self.scorer.model, rows, work, threads=self.threads)
            nll[miss], tok[miss], fwd = res.nll[miss], res.tokens[miss], res.forward_tokens
        if self.cache and len(miss):  # as cached_answer_nll: every miss, scored or not
            self.cache.put([keys[i] for i in miss], nll[miss], tok[miss])
        return {"nll": nll, "tokens": tok, "hit": hit, "forward_tokens": fwd, "pid": os.getpid(),
                "fingerprint": self.scorer.fingerprint, "threads": self.threads,
                "estimate": self.scorer.estimate_seconds(rows)}  # fmt: skip


def items_of(work: Work, actors: int) -> list[tuple[int, list[list[int]]]]:
    """The plan cut into work items: each group's batches in consecutive chunks, about
    ``ITEMS_PER_ACTOR`` items per actor in all (a large group spreads, a small one stays whole)."""
    total = sum(len(b) for _, b in work)
    per = max(1, math.ceil(total / max(1, actors * ITEMS_PER_ACTOR)))
    return [(p, batches[a : a + per]) for p, batches in work for a in range(0, len(batches), per)]


def run_items(hub: Any, name: str, quantize: str | None, cache_dir: Any, items: list[tuple[Any, ...]],
              actors: int) -> list[dict[str, Any]]:  # fmt: skip
    """Each work item (``("nll", ...)`` or ``("choice", ...)``) run by a ``ScoreActor`` of an
    actor pool of at most ``actors`` (one Ray block an item); the results in item order."""
    import ray
    from ray.data import ActorPoolStrategy

    pre = [ray.put({name: hub.preloaded[name]})] if hub is not None and name in hub.preloaded else []
    seq = pa.array(range(len(items)), pa.int64())
    table = pa.table({"seq": seq, "item": pa.array([pickle.dumps(x) for x in items], pa.large_binary())})
    ds = ray.data.from_arrow([table.slice(i, 1) for i in range(table.num_rows)])  # one block an item
    out = ds.map_batches(
        ScoreActor,
        fn_constructor_args=(name, quantize, pre, cache_dir),
        compute=ActorPoolStrategy(size=max(1, min(actors, len(items)))),
        batch_size=1,
        batch_format="pyarrow",
        zero_copy_batch=False,
    )
    got = sorted(
        (int(s), pickle.loads(r))
        for b in out.iter_batches(batch_format="pyarrow", batch_size=None)
        for s, r in zip(b.column("seq").to_pylist(), b.column("result").to_pylist(), strict=True)
    )
    return [r for _, r in got]


def ray_stats(got: list[dict[str, Any]], items: int) -> dict[str, Any]:
    """Where the work ran: the ``ray`` entry of the stage stats."""
    pids = sorted({r["pid"] for r in got})
    return {"work_items": items, "actors": len(pids), "threads_per_actor": got[0]["threads"] if got else 0,
            "actor_pids": pids}  # fmt: skip


def score_on_ray(
    stage: Any, name: str, rows: Sequence[Row], *, actors: int
) -> tuple[AnswerNLL, dict[str, Any]]:
    """``lm.options.score`` with the model passes in an actor pool: results and stats alike
    (``seconds`` is the wall time here; ``forward_tokens`` counts a prefix once per item)."""
    t0 = time.perf_counter()
    c, cache_dir = stage.cfg, stage.ctx.cache_dir
    keys = [pair_key(ctx, ans) for ctx, ans in rows]
    if cache_dir:  # distinct pairs only, first occurrence each, as cached_answer_nll plans them
        first: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        uniq = list(first.values())
    else:  # no cache: answer_nll sees every pair
        uniq = list(range(len(rows)))
    urows = [rows[i] for i in uniq]
    items = items_of(plan_work(urows, batch_tokens=c.batch_tokens or CPU_BATCH_TOKENS), actors) or [(0, [])]
    planned = {i for _, batches in items for b in batches for i in b}
    rest = [i for i in range(len(urows)) if i not in planned]  # no answer token: 0, 0, yet cached
    idxs = [sorted({i for b in batches for i in b} | (set(rest) if k == 0 else set()))
            for k, (_, batches) in enumerate(items)]  # fmt: skip
    payload = []
    for (p, batches), idx in zip(items, idxs, strict=True):
        local = {g: j for j, g in enumerate(idx)}
        sub = [[local[i] for i in b] for b in batches]
        payload.append((p, sub, [urows[i] for i in idx], [keys[uniq[i]] for i in idx]))
    log.info("%s: %d passes (%d distinct) in %d work items on %d actors", stage.name, len(rows), len(urows),
             len(items), actors)  # fmt: skip
    got = run_items(stage.ctx.models, name, c.quantize, cache_dir, [("nll", *x) for x in payload], actors)
    u_nll = np.zeros(len(urows), dtype=np.float64)
    u_tok = np.zeros(len(urows), dtype=np.int64)
    u_hit = np.zeros(len(urows), dtype=bool)
    for r, idx in zip(got, idxs, strict=True):
        u_nll[idx], u_tok[idx], u_hit[idx] = r["nll"], r["tokens"], r["hit"]
    pos = np.empty(len(rows), dtype=np.int64)  # each pair -> its distinct pair
    where = {keys[u]: j for j, u in enumerate(uniq)} if cache_dir else None
    for i in range(len(rows)):
        pos[i] = where[keys[i]] if where is not None else i
    hit = u_hit[pos]
    res = AnswerNLL(
        nll=u_nll[pos], tokens=u_tok[pos], forward_tokens=sum(r["forward_tokens"] for r in got),
        batches=sum(len(b) for _, b in items), cached=int(hit.sum()),
    )  # fmt: skip
    pids = sorted({r["pid"] for r in got})
    stats = {
        "passes": len(rows),
        "passes_cached": res.cached,
        "passes_computed": len(rows) - res.cached,
        "forward_tokens": res.forward_tokens,
        "estimated_seconds": round(sum(r["estimate"] for r in got) / max(1, len(pids)), 1),
        "seconds": round(time.perf_counter() - t0, 2),
        "model_fingerprint": got[0]["fingerprint"],
        "ray": ray_stats(got, len(items)),
    }
    return res, stats


def apply_ifd(stage: Any, df: pl.DataFrame, *, blocks: int, parts: int) -> StageResult:
    """``select.ifd`` with its model passes in an actor pool (module doc); equal to ``stage.apply``."""
    del blocks, parts  # the work is cut by the batch plan, not by table blocks
    name, pre = stage.scoring_model(df)
    tok = stage.ctx.models.tokenizer(name)
    pairs = stage.pairs(df, tok)
    res, stats = score_on_ray(stage, name, [*pairs.cond, *pairs.alone], actors=cluster_cpus())
    return stage.select(df, pairs, res, stats, pre)


def apply_scores(stage: Any, df: pl.DataFrame, *, blocks: int, parts: int) -> StageResult:
    """``score.perplexity`` / ``score.uncertainty``: ``passes`` (tokenizing; the perturbing) on the
    driver, the model passes in the actor pool, ``scored`` on the driver; equal to ``stage.apply``."""
    del blocks, parts
    name = stage.cfg.model
    rows, state = stage.passes(df, stage.ctx.models.tokenizer(name))
    res, stats = score_on_ray(stage, name, rows, actors=cluster_cpus())
    return stage.scored(df, state, res, stats)


def choice_on_ray(
    stage: Any, name: str, contexts: Sequence[Sequence[int]], candidates: list[int], *, actors: int
) -> tuple[np.ndarray, int, dict[str, Any]]:
    """``lm.choice.cached_next_token_logprobs`` with its batches (``plan_choice``, the local plan) cut
    into work items for the actor pool; each item ships only its own contexts. Returns the
    log-probabilities, the cache hits and where the work ran."""
    batches = plan_choice(contexts)
    per = max(1, math.ceil(len(batches) / max(1, actors * ITEMS_PER_ACTOR)))
    items, idxs = [], []
    for a in range(0, len(batches), per):
        chunk = batches[a : a + per]
        idx = sorted({i for b in chunk for i in b})
        local = {g: j for j, g in enumerate(idx)}
        items.append(("choice", [[local[i] for i in b] for b in chunk], [list(contexts[i]) for i in idx],
                      candidates))  # fmt: skip
        idxs.append(idx)
    log.info("%s: %d contexts in %d work items on %d actors", stage.name, len(contexts), len(items), actors)
    got = run_items(stage.ctx.models, name, None, stage.ctx.cache_dir, items, actors) if items else []
    out = np.full((len(contexts), len(candidates)), np.nan)
    hits = 0
    for r, idx in zip(got, idxs, strict=True):
        out[idx] = r["logp"]
        hits += int(r["hit"].sum())
    return out, hits, {"ray": ray_stats(got, len(items))}


def apply_judge(stage: Any, df: pl.DataFrame, *, blocks: int, parts: int) -> StageResult:
    """``score.judge``: with the local model, contexts on the driver, the one pass per row in the
    actor pool, ``judged`` on the driver (equal to ``stage.apply``); with an endpoint, all of it on
    the driver (the requests are I/O bound and already concurrent: ``endpoint.concurrency``)."""
    del blocks, parts
    if stage.cfg.endpoint is not None:
        return stage.apply(df)
    name = stage.cfg.model
    contexts, digits = stage.choices(df, stage.ctx.models.tokenizer(name))
    logp, hits, where = choice_on_ray(stage, name, contexts, digits, actors=cluster_cpus())
    return stage.judged(df, np.exp(logp), {"model": name, **passes(len(contexts), hits), **where})
