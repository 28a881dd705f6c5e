"""split: stratified, seeded, and no exact or near duplicate on both sides."""

from __future__ import annotations

import polars as pl
import pytest

from curate.pipeline.stage import StageContext
from curate.schema import chat_row, frame
from curate.stages.mix.split import Split
from curate.text.minhash import near_duplicate_groups


@pytest.fixture(scope="module")
def leaky(mixed: pl.DataFrame) -> pl.DataFrame:
    """The real rows plus exact copies and near copies (a changed word or punctuation) of 30 of them."""
    rows = mixed.head(30).to_dicts()
    near = [
        chat_row(
            [(m["role"], m["content"] + ("。" if i % 2 else " !")) if j == 0 else (m["role"], "other")
             for j, m in enumerate(r["messages"])],
            system=r["system"], source=r["source"], domain=r["domain"], task=r["task"],
            origin=r["origin"] + "#near",
        )
        for i, r in enumerate(rows)
    ]  # fmt: skip
    return pl.concat([mixed, mixed.head(30), frame(near)], how="diagonal_relaxed")


def test_stratified_fraction(mixed: pl.DataFrame):
    res = Split({"fraction": 0.25}, ctx=StageContext(seed=1)).apply(mixed)
    ev = res.side["eval"]
    counts = dict(ev.group_by("domain").len().iter_rows())
    assert counts == {"legal": 34, "general": 15}
    assert res.kept.height + ev.height == mixed.height and res.n_removed == 0


def test_no_leak_exact_or_near(leaky: pl.DataFrame):
    res = Split({"fraction": 0.3, "by": "domain"}, ctx=StageContext(seed=2)).apply(leaky)
    train, ev = res.kept, res.side["eval"]
    assert not set(train["id"]) & set(ev["id"])
    side = {o: "train" for o in train["origin"]} | {o: "eval" for o in ev["origin"]}
    moved = [o for o in side if o.endswith("#near")]
    assert len(moved) == 30 and any(side[o] == "eval" for o in moved)
    assert all(
        side[o] == side[o.removesuffix("#near")] for o in moved
    )  # each near copy sits with its original
    assert res.stats["near_merges"] >= 25 and res.stats["id_overlap"] == 0


def test_exact_only_lets_near_copies_straddle(leaky: pl.DataFrame):
    near = Split({"fraction": 0.3, "leak_check": "near"}, ctx=StageContext(seed=2)).apply(leaky)
    exact = Split({"fraction": 0.3, "leak_check": "exact"}, ctx=StageContext(seed=2)).apply(leaky)
    assert exact.stats["leak_groups"] > near.stats["leak_groups"]


def test_fixed_n_and_determinism(mixed: pl.DataFrame):
    a = Split({"n": 10}, ctx=StageContext(seed=4)).apply(mixed).side["eval"]
    b = Split({"n": 10}, ctx=StageContext(seed=4)).apply(mixed).side["eval"]
    assert a["id"].to_list() == b["id"].to_list()
    counts = dict(a.group_by("domain").len().iter_rows())
    assert (
        counts["general"] == 10 and abs(counts["legal"] - 10) <= 1
    )  # whole leak groups: within half a group


def test_minhash_groups_near_copies_only():
    base = "Summarize the dispute between the landlord and the tenant about the deposit."
    texts = [base, base.replace("deposit", "deposit."), "What is the capital of France?", base.upper()]
    groups, _ = near_duplicate_groups(texts, threshold=0.8)
    assert groups[0] == groups[1] == groups[3] and groups[2] != groups[0]
