"""The train commands as a user calls them: preview, train, estimate, merge, export."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from curate.cli import cli
from curate.cli.train import load_config
from curate.errors import RecipeError
from curate.formats import write
from curate.train.estimate import estimate_memory


@pytest.fixture
def data_file(tmp_path, small_df):
    return write(small_df, tmp_path / "chat.sharegpt.jsonl", fmt="sharegpt")


def test_preview_highlights_trained_tokens(data_file):
    r = CliRunner().invoke(cli, ["train", str(data_file), "--preview", "--max-len", "256"])
    assert r.exit_code == 0, r.output
    assert "<|im_start|>assistant" in r.output and "tokens trained (row" in r.output
    assert "assistant\n⟦" in r.output and "<|im_end|>\n⟧" in r.output  # plain output marks trained spans
    assert "⟦<|im_start|>user" not in r.output


def test_train_command_end_to_end_with_a_local_model(tmp_path, data_file, make_model, tokenizer, tok_cache):
    base = tmp_path / "tiny"
    make_model().save_pretrained(base)
    tokenizer.save_pretrained(base)
    cfg = tmp_path / "train.yaml"
    cfg.write_text(
        f"train:\n  max_steps: 2\n  batch_size: 4\n  max_len: 128\n  threads: 1\n  sample_count: 0\n"
        f"  tensorboard: false\n  cache_dir: {tok_cache}\n"
    )
    out = tmp_path / "out"
    r = CliRunner().invoke(
        cli,
        [
            "train",
            str(data_file),
            "--config",
            str(cfg),
            "--model",
            str(base),
            "--out",
            str(out),
            "--lr",
            "0.01",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "trained 2 steps" in r.output and "eval loss" in r.output
    meta = json.loads((out / "adapter" / "curate_train.json").read_text())
    assert meta["config"]["lr"] == 0.01 and meta["config"]["max_steps"] == 2 and meta["model"] == str(base)


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("rank: 8\nlerning_rate: 0.1\n")
    with pytest.raises(RecipeError, match="lerning_rate") as e:
        load_config(bad, {})
    assert "max_steps" in str(e.value)  # lists the valid keys


def test_estimate_matches_rules_of_thumb():
    shape = {
        "params": 1_000_000_000,
        "linear": [(4096, 4096)] * 100,
        "layers": 16,
        "hidden": 2048,
        "intermediate": 5504,
        "kv_dim": 512,
        "vocab": 32000,
        "embed_params": 65_536_000,
    }
    full = estimate_memory(shape, method="full", seq_len=512, batch=8)
    assert 15 <= full["gb_per_billion_params"] <= 20  # weights + grads + AdamW: ~16 bytes/param
    lora = estimate_memory(shape, method="lora", seq_len=512, batch=8)
    assert lora["optimizer"] < full["optimizer"] / 100 and lora["trainable_params"] == 100 * 8 * 8192
    qlora = estimate_memory(shape, method="qlora", seq_len=512, batch=8)
    assert qlora["weights"] < lora["weights"] / 2
    ckpt = estimate_memory(shape, method="lora", seq_len=512, batch=8, gradient_checkpointing=True)
    assert ckpt["activations"] < lora["activations"] / 5
    assert lora["logits"] < lora["logits_full_vocab_trainer"]


def test_estimate_command_reads_the_packaged_model_config():
    r = CliRunner().invoke(
        cli,
        [
            "estimate",
            "--model",
            "smollm2-135m",
            "--method",
            "lora",
            "--seq-len",
            "512",
            "--batch",
            "8",
            "--rows",
            "3000",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert 130e6 < out["memory_gb"]["params"] < 140e6  # SmolLM2-135M, counted without loading weights
    assert any("chat/instruct model" in t for t in out["advice"]) and any("2e-4" in t for t in out["advice"])


def test_export_llamafactory_command(tmp_path, data_file):
    out = tmp_path / "lf"
    r = CliRunner().invoke(cli, ["export-llamafactory", str(data_file), "--out", str(out), "--name", "chat"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "dataset_info.json").read_text())["chat"]["file_name"] == "chat.json"
    assert len(json.loads((out / "chat.json").read_text())) == 48


def test_train_reads_a_run_directory(tmp_path, small_df):
    run = tmp_path / "run"
    (run / "output").mkdir(parents=True)
    small_df.head(40).write_parquet(run / "output" / "train.canonical.parquet")
    small_df.tail(8).write_parquet(run / "output" / "eval.canonical.parquet")
    (run / "manifest.json").write_text(json.dumps({"name": "run", "sources": []}))
    from curate.cli.train import load_dataset

    train, held_out, manifest = load_dataset(run)
    assert train.height == 40 and held_out.height == 8 and manifest["name"] == "run"
    r = CliRunner().invoke(cli, ["train", str(run), "--preview"])
    assert r.exit_code == 0 and "tokens trained" in r.output
