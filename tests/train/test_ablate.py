"""``curate ablate`` end to end on a tiny random model and tiny real data: every variant trains, is
evaluated on the same held-out rows and MCQ items, and lands in the table, the JSON and the chart."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from curate.ablate import answer_chars, variant_frames
from curate.schema import chat_row, frame, text_row

ROOT = Path(__file__).resolve().parents[2]
MCQ = ROOT / "tests" / "data" / "lawbench_mcq"


def test_variants_random_and_longest_are_the_curated_size() -> None:
    pool = frame(
        [
            chat_row(
                [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a" * i}], source="s"
            )
            for i in range(1, 21)
        ]
        + [text_row("t" * 50, source="d")]
    )
    curated = pool.head(5)
    v = variant_frames(pool, curated, ["raw", "random", "longest", "curated"], seed=1)
    assert v["raw"].height == 21 and v["random"].height == 5 and v["curated"].equals(curated)
    assert v["longest"].with_columns(n=answer_chars())["n"].to_list() == [50, 20, 19, 18, 17]
    assert set(v["random"]["id"]).issubset(set(pool["id"]))


def _tiny_recipe(tmp_path: Path, make_model, tokenizer, tok_cache) -> Path:
    """A recipe on 40 LawBench consultations + 60 chatterbot rows, training a tiny random model."""
    tiny = tmp_path / "tiny"
    make_model().save_pretrained(tiny)
    tokenizer.save_pretrained(tiny)
    recipe = {
        "name": "tiny-ablate",
        "seed": 3,
        "sources": [
            {
                "name": "law_qa",
                "path": str(ROOT / "recipes" / "data" / "lawbench_consult.jsonl"),
                "format": "alpaca",
                "columns": {"prompt": "query", "response": "response", "system": "system"},
                "domain": "legal",
                "task_from": "file_stem",
                "limit": 40,
            },
            {
                "name": "chatterbot",
                "path": str(ROOT / "recipes" / "data" / "chatterbot.prh.jsonl"),
                "format": "prompt_response_history",
                "domain": "general",
                "limit": 60,
            },
        ],
        "stages": [
            {"dedup.exact": {}},
            {"split": {"n": 5}},
            {"cap.per_task": {"max_rows": 12}},
            {"filter.length": {"field": "assistant", "min_chars": 20}},
        ],
        "train": {
            "model": str(tiny),
            "max_steps": 2,
            "batch_size": 4,
            "max_len": 1024,
            "threads": 1,
            "sample_count": 0,
            "tensorboard": False,
            "save_steps": None,
            "cache_dir": str(tok_cache),
        },
        "eval": {
            "mcq": [{"name": "lawbench", "path": str(MCQ / "*.csv"), "domain": "legal", "max_items": 2}],
            "max_mcq_items": 5,
            "max_open_ended": 0,
        },
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.slow
def test_ablate_end_to_end_on_a_tiny_model(tmp_path, make_model, tokenizer, tok_cache) -> None:
    path = _tiny_recipe(tmp_path, make_model, tokenizer, tok_cache)
    from curate.cli import cli

    out = CliRunner().invoke(
        cli,
        ["ablate", str(path), "--out", str(tmp_path / "run"), "--seeds", "2", "--leave-out", "filter.length"],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    abl = tmp_path / "run" / "ablate"
    res = json.loads((abl / "ablation.json").read_text(encoding="utf-8"))
    names = ["raw", "random", "longest", "curated", "no-filter.length"]
    assert [r["variant"] for r in res["runs"]] == names * 2  # seed-major
    assert res["pool_rows"] == 90 and res["eval_rows"] == 10  # 100 read, 5 per domain held out
    k = res["curated_rows"]
    by = {(r["variant"], r["seed"]): r for r in res["runs"]}
    assert by[("raw", 3)]["train_rows"] == 8 and by[("random", 3)]["train_rows"] == min(8, k)  # steps x batch
    for r in res["runs"]:
        assert r["steps"] == 2 and r["tokens_seen"] > 0
        assert r["loss_legal"] > 0 and r["loss_general"] > 0 and 0 <= r["mcq_accuracy"] <= 1
        assert "forgetting_pct" in r and set(r["mcq_by_set"]) == {"held_out", "lawbench"}
    assert by[("curated", 3)]["loss_legal"] != by[("curated", 4)]["loss_legal"]  # the seed matters
    s = res["summary"]
    assert set(s) == {*names, "base"} and s["curated"]["loss_legal"]["n"] == 2
    # MCQ accuracy per item set is a metric of its own (mean +- sd), LawBench's items apart
    assert res["mcq_sets"] == {"held_out": 5, "lawbench": 5} and res["complete"] is True
    assert s["curated"]["mcq_lawbench"]["n"] == 2 and "mcq_held_out" in s["base"]
    assert isinstance(res["eval_dropped"], dict)  # held-out rows too long for max_len, per domain
    assert s["base"]["loss_general"]["mean"] == res["base"]["loss_general"]
    md = (abl / "ablation.md").read_text(encoding="utf-8")
    for n in names:
        assert f"| {n} |" in md
    assert "±" in md and "| base |" in md and "ablation.svg" in md and "MCQ lawbench" in md
    svg = (abl / "ablation.svg").read_text(encoding="utf-8")
    assert (
        svg.startswith("<svg") and svg.count("<rect") == 6 * 6 - 1
    )  # 6 panels (2 losses, MCQ overall + per set, forgetting) x 6 bars; base: no forgetting
    assert '<section id="ablation">' in (abl / "ablation.html").read_text(encoding="utf-8")
    assert '<section id="ablation">' in (abl.parent / "report.html").read_text(encoding="utf-8")
    assert "| curated |" in out.output
    # the leave-one-out run reuses the full run's stages before the left-out one (linked, not re-run)
    lo = json.loads((abl / "no-filter.length" / "manifest.json").read_text(encoding="utf-8"))
    assert [(st["name"], st["reused"]) for st in lo["stages"]] == [
        ("read", True),
        ("dedup.exact", True),
        ("split", True),
        ("cap.per_task", True),
    ]
    # the held-out rows never reach a variant's training pool
    held = set(pl.read_parquet(tmp_path / "run" / "output" / "eval.canonical.parquet")["id"])
    assert held and not held & set(
        pl.read_parquet(tmp_path / "run" / "output" / "train.canonical.parquet")["id"]
    )


def test_eval_loss_of_no_eval_rows_is_none() -> None:
    """An empty eval frame (ablate trains with none) tokenizes to no set: the trainer's eval is skipped."""
    from curate.train.evaluate import eval_loss

    kw = {"rt": None, "micro_batch_tokens": 64, "packing": False, "varlen": False, "pad_id": 0}
    assert eval_loss(None, None, **kw) is None


@pytest.mark.slow
def test_a_killed_ablation_keeps_the_runs_it_finished(
    tmp_path, make_model, tokenizer, tok_cache, monkeypatch
) -> None:
    """ablation.json is rewritten after every run: an ablation stopped mid-way (a deadline, a crash)
    still has its finished runs and says it is not complete."""
    import curate.train
    from curate.ablate import ablate
    from curate.recipe import load

    path = _tiny_recipe(tmp_path, make_model, tokenizer, tok_cache)
    real, calls = curate.train.run_training, []

    def second_run_dies(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(curate.train, "run_training", second_run_dies)
    with pytest.raises(KeyboardInterrupt):
        ablate(load(path), seeds=1, variants=["raw", "curated"], out=tmp_path / "run")
    res = json.loads((tmp_path / "run" / "ablate" / "ablation.json").read_text(encoding="utf-8"))
    assert [r["variant"] for r in res["runs"]] == ["raw"] and res["complete"] is False
    assert "Partial: 1 of 2 runs" in (tmp_path / "run" / "ablate" / "ablation.md").read_text(encoding="utf-8")
    assert res["summary"]["raw"]["loss_legal"]["n"] == 1 and res["base"]["loss_legal"] > 0


def test_mcq_sets_keep_only_named_sets_and_the_same_items() -> None:
    """The recipe's eval.mcq_sets drops whole sets; the items kept of a named set do not change."""
    from curate.train.assess import _cap

    items = [{"id": i, "set": ("lawbench" if i % 3 else None)} for i in range(30)]
    every = _cap(items, 4, seed=7)
    only = _cap(items, 4, seed=7, sets=["lawbench"])
    assert [it["id"] for it in only] == [it["id"] for it in every if it["set"] == "lawbench"]
    assert len(only) == 4 and len(every) == 8
    assert [it["set"] for it in _cap(items, None, seed=7, sets=["held_out"])] == [None] * 10


def test_legal_zh_sizes_its_ablation_in_the_recipe() -> None:
    """`curate ablate recipes/legal-zh.yaml` with no flags runs the measured size (bench/README.md)."""
    from curate.recipe import load as load_recipe

    r = load_recipe(ROOT / "recipes" / "legal-zh.yaml")
    assert r.eval.mcq_sets == ["lawbench_mcq"] and r.eval.rows_per_domain
    assert r.train_config.max_steps and r.train_config.max_steps * r.train_config.batch_size <= 64
