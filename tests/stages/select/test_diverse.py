"""select.diverse on real LawBench queries."""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.embed.service import embed_rows
from curate.pipeline.registry import get
from curate.pipeline.stage import StageContext


def test_repr_never_keeps_two_rows_above_tau(law680, tmp_path) -> None:
    ctx = StageContext(seed=3, cache_dir=tmp_path)
    df = law680.with_columns(
        score_len=pl.col("messages").list.first().struct.field("content").str.len_chars()
    )
    res = get("select.diverse")({"tau": 0.6, "score": "score_len"}, ctx=ctx).apply(df)
    full = embed_rows(df, field="user", model="lexical", ctx=ctx)
    pos = {i: k for k, i in enumerate(df["id"])}
    xk = full.vectors[[pos[i] for i in res.kept["id"]]]
    sims = xk @ xk.T
    np.fill_diagonal(sims, -1)
    assert sims.max() <= 0.6 + 1e-4
    too = res.removed.filter(pl.col("reason") == "too_similar")
    assert too.height > 0 and (too["value"] > 0.6).all() and too["dup_of"].is_in(res.kept["id"]).all()
    assert res.kept.height + res.n_removed == df.height


def test_budget_per_group_and_methods(law680, tmp_path) -> None:
    ctx = StageContext(seed=3, cache_dir=tmp_path)
    for method in ("repr", "kcenter", "facility"):
        res = get("select.diverse")({"method": method, "n": 5, "by": "task"}, ctx=ctx).apply(law680)
        counts = res.kept.group_by("task").len()["len"]
        assert counts.max() <= 5 and res.kept.height == 17 * 5, method
