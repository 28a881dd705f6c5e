"""``curate trace`` into training: a real (tiny) ``curate run`` with training, then a row's token ids,
loss mask and optimizer steps, checked against ChatEncoder and the trainer's own plan.

The run: 16 multi-turn chit-chat conversations + 8 Chinese LawBench rows (real data from
recipes/data), mixed 1:3 with repeats allowed (so some rows are two examples), a 1-layer random model
with SmolLM2's tokenizer, 2 epochs of batch 4 (~25 s CPU on 2 shared cores).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import curate
from curate.chat import ChatEncoder

pytestmark = pytest.mark.slow  # a real curate run with training

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "recipes" / "data"
MAX_LEN, BATCH, EPOCHS, SEED = 1536, 4, 2, 7


def _tiny_model(folder: Path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from curate.models import load_tokenizer

    tok = load_tokenizer("smollm2-135m")
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from curate.recipe import parse

    tmp = tmp_path_factory.mktemp("trace_train")
    _tiny_model(tmp / "tiny")
    chats = json.loads((DATA / "chitchat.sharegpt.json").read_text(encoding="utf-8"))[:16]
    (tmp / "chat.json").write_text(json.dumps(chats, ensure_ascii=False), encoding="utf-8")
    law = (DATA / "lawbench_consult.jsonl").read_text(encoding="utf-8").splitlines()[:8]
    (tmp / "law.jsonl").write_text("\n".join(law) + "\n", encoding="utf-8")
    text = f"""
name: trace-train
seed: {SEED}
sources:
  - {{name: chitchat, path: chat.json, format: sharegpt, domain: general, license: mit}}
  - name: law
    path: law.jsonl
    format: alpaca
    columns: {{prompt: query, response: response, system: system}}
    domain: law
    license: apache-2.0
stages:
  - filter.length: {{field: assistant, min_chars: 2, max_chars: 4000}}
  - split: {{fraction: 0.1}}
  # 1 law : 3 general wants more chit-chat than there is: half of it is repeated (two examples each)
  - mix.ratio: {{domain: law, general_per_domain: 3, unit: examples, max_copies_per_row: 2}}
output: {{format: sharegpt}}
train:
  model: {tmp / "tiny"}
  max_len: {MAX_LEN}
  batch_size: {BATCH}
  epochs: {EPOCHS}
  seed: {SEED}
  threads: 1
  sample_count: 0
  tensorboard: false
  eval_max_rows: 2
  cache_dir: {tmp / "tokenized"}
eval: {{after_train: false}}
"""
    recipe = tmp / "recipe.yaml"
    recipe.write_text(text, encoding="utf-8")
    out = tmp / "run"
    curate.run(parse(text, file=str(recipe), path=recipe), out=out)
    return out


def _plan(run_dir: Path) -> dict[int, list[int]]:
    """Example -> the steps that used it, recomputed from the trainer's own planner and the cache."""
    from curate.train.batching import plan_steps
    from curate.train.cache import TokenizedSet

    tr = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["train"]
    ds = TokenizedSet(Path(tr["tokenized_train"]), {})
    steps = plan_steps(ds.lengths, batch_size=BATCH, epochs=EPOCHS, max_steps=None, seed=SEED)
    assert len(steps) == tr["steps"]
    used: dict[int, list[int]] = {}
    for k, s in enumerate(steps, start=1):
        for i in s.tolist():
            used.setdefault(i, []).append(k)
    return used


def _check(run: curate.Run, row: dict, used: dict[int, list[int]]) -> None:
    from curate.models import load_tokenizer

    t = run.trace(row["id"])
    copies = run.output().filter(pl.col("id") == row["id"]).height  # mix.ratio repeats some rows
    assert t.final == "in the output" and len(t.examples) == copies, str(t)
    enc = ChatEncoder(load_tokenizer(run.manifest["train"]["model"]), max_len=MAX_LEN).encode(row)
    answers = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
    for e in t.examples:
        assert e.ids == list(enc.ids) and e.mask == list(enc.mask)  # exactly what ChatEncoder makes
        assert e.targets == sum(enc.mask[1:]) and e.tokens == len(enc.ids)
        assert e.steps == used[e.index] and len(e.steps) == EPOCHS  # each epoch sees every example once
        assert e.epochs == list(range(EPOCHS))
        # the loss mask covers the assistant turns only: each trained span is an answer + end of turn
        trained = [txt for m, txt in e.spans if m]
        assert len(trained) == len(answers)
        for txt, ans in zip(trained, answers, strict=True):
            assert txt.startswith(ans) and txt.removeprefix(ans).strip() == "<|im_end|>"
        assert "\ufffd" not in e.rendered(chars=None)
        assert f"steps {e.steps[0]} (epoch 1), {e.steps[1]} (epoch 2)" in str(t)


def test_multi_turn_row_shows_its_tokens_mask_and_steps(trained_run: Path):
    run = curate.open(trained_run)
    out = run.output()
    chit = out.filter(pl.col("source") == "chitchat")
    copies = chit.group_by("id").len()
    assert set(copies["len"]) == {1, 2}  # rows used once and rows the mix repeated
    picked = [copies.filter(pl.col("len") == n)["id"][0] for n in (1, 2)]
    picked.append(chit.filter(pl.col("messages").list.len() >= 6)["id"][0])  # six turns or more
    for rid in picked:
        _check(run, chit.filter(pl.col("id") == rid).row(0, named=True), _plan(trained_run))


def test_chinese_row_with_system_prompt(trained_run: Path):
    run = curate.open(trained_run)
    row = run.output().filter(pl.col("source") == "law").row(0, named=True)
    _check(run, row, _plan(trained_run))
    t = run.trace(row["id"], decode=False)  # ids and mask without the tokenizer
    assert t.examples[0].ids and not t.examples[0].spans


def test_steps_file_is_the_plan_the_trainer_ran(trained_run: Path):
    tr = json.loads((trained_run / "manifest.json").read_text(encoding="utf-8"))["train"]
    plan = pl.read_parquet(trained_run / "train" / "steps.parquet")
    assert plan["step"].max() == tr["steps"] and plan.height == tr["train_examples"] * EPOCHS
    assert plan.group_by("step").len()["len"].max() == BATCH
    assert tr["tokens_seen"] == plan["tokens"].sum()  # every token the trainer counted, no other
    used = _plan(trained_run)
    got = plan.group_by("example").agg(pl.col("step").sort()).sort("example")
    assert {r["example"]: r["step"] for r in got.iter_rows(named=True)} == used
    ex = pl.read_parquet(trained_run / "train" / "examples.parquet")
    assert ex.height == tr["train_examples"] and np.all(ex["targets"].to_numpy() > 0)


def test_trace_command_lists_tokens(trained_run: Path):
    run = curate.open(trained_run)
    row = run.output().filter(pl.col("source") == "chitchat").row(0, named=True)
    p = subprocess.run(
        [sys.executable, "-m", "curate", "trace", str(trained_run), row["id"], "--tokens"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "training example" in p.stdout and "from this row" in p.stdout and "⟦" in p.stdout
    assert "position id token trained" in p.stdout and "'<|im_start|>'" in p.stdout


def test_eval_row_is_not_a_training_example(trained_run: Path):
    run = curate.open(trained_run)
    row = run.output("eval").row(0, named=True)
    t = run.trace(row["id"])
    assert t.final.startswith("held out") and not t.examples


def test_report_training_section_shows_the_plan(trained_run: Path):
    from curate.report.html import render

    page = render(trained_run)
    assert "What the steps used" in page and "curate trace RUN_DIR ROW_ID" in page


def test_a_cleaned_cache_still_lists_the_steps(trained_run: Path):
    from curate.report.trace_train import examples_of

    run = curate.open(trained_run)
    row = run.output().filter(pl.col("source") == "chitchat").row(0, named=True)
    summary = {**run.manifest["train"], "tokenized_train": str(trained_run / "gone.arrow")}
    examples, note = examples_of(run.rd.train, summary, row["id"])
    assert note is not None and "is gone" in note
    assert examples and examples[0].ids is None and len(examples[0].steps) == EPOCHS


def test_raw_record_of_a_json_array_row_is_that_row(trained_run: Path):
    """``file#n`` is 0-based (the readers' row numbering); trace showed element n-1 before."""
    run = curate.open(trained_run)
    row = run.output().filter(pl.col("source") == "chitchat").row(0, named=True)
    t = run.trace(row["origin"])
    raw = json.loads(t.raw)
    assert raw["conversations"][0]["value"] == row["messages"][0]["content"]
