"""``curate score RUN_DIR``: the run's training rows under its trained adapter, fed back by
``score.join`` + ``select.top``. A tiny random model saved as a real folder, trained by curate's
trainer on real LawBench rows (fast: a few seconds)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from curate.cli import cli
from curate.models import ModelHub
from curate.pipeline.stage import StageContext
from curate.rescore import score_run
from curate.stages.score.join import JoinScores
from curate.stages.select.top import SelectTop
from curate.train import run_training
from curate.train.config import TrainConfig
from tests.lm.ifd_reference import reference_scores
from tests.stages.mix.mixing_samples import law_frame


@pytest.fixture(scope="module")
def trained_run(tiny_lm, tmp_path_factory):
    model, tok = tiny_lm
    root = tmp_path_factory.mktemp("rescore")
    base = root / "tiny-model"
    copy.deepcopy(model).save_pretrained(base)
    tok.save_pretrained(base)
    rows = law_frame().group_by("task", maintain_order=True).head(2).head(10)
    run = root / "run"
    (run / "output").mkdir(parents=True)
    rows.write_parquet(run / "output" / "train.canonical.parquet")
    cfg = TrainConfig(model=str(base), max_steps=2, batch_size=4, max_len=1024, lr=5e-2, sample_count=0,
                      save_steps=None, tensorboard=False, eval_max_rows=2)  # fmt: skip
    summary = run_training(rows, None, cfg, run / "train", progress=False)
    (run / "train" / "summary.json").write_text(json.dumps(summary, default=str))
    return run, rows


def test_score_run_is_the_adapters_loss(trained_run, tmp_path, monkeypatch):
    from peft import PeftModel

    from curate.models import load_causal_lm, load_tokenizer

    run, rows = trained_run
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["score", str(run), "--top", "3"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert f"scored {rows.height} of {rows.height} rows" in res.output
    scores = pl.read_parquet(run / "scores" / "adapter.parquet")
    assert scores.columns == ["id", "score_adapter_loss", "score_adapter_ifd", "score_adapter_tokens"]
    summary = json.loads((run / "train" / "summary.json").read_text())
    lm = PeftModel.from_pretrained(load_causal_lm(summary["model"]), summary["adapter_dir"])
    lm = lm.merge_and_unload()
    tok = load_tokenizer(summary["model"])
    got = dict(zip(scores["id"], scores["score_adapter_loss"], strict=True))
    for r in rows.head(3).iter_rows(named=True):
        _, nll, _ = reference_scores(lm.eval(), tok, r)
        # relative: a random tiny model's NLL is ~10.7, and the scorer picks its thread count by load
        # (another summation order): 1.4e-5 apart on a loaded machine
        assert got[r["id"]] == pytest.approx(nll, rel=5e-5, abs=1e-4)
    # fed back: join the column and keep the 4 rows the adapter has learned least
    joined = JoinScores({"path": str(run / "scores" / "adapter.parquet")}).apply(rows)
    assert joined.stats["rows_covered"] == rows.height
    top = SelectTop({"score": "score_adapter_loss", "top_n": 4}, ctx=StageContext(models=ModelHub())).apply(
        joined.kept
    )
    want = scores.sort("score_adapter_loss", descending=True).head(4)["id"].sort().to_list()
    assert top.kept["id"].sort().to_list() == want and top.n_removed == rows.height - 4
    # the file's content is in the stage config: a new file is a new fingerprint
    before = JoinScores.Config(path=str(run / "scores" / "adapter.parquet")).model_dump()["content"]
    score_run(run, max_rows=5)
    assert JoinScores.Config(path=str(run / "scores" / "adapter.parquet")).model_dump()["content"] != before


def test_serve_a_runs_adapter(trained_run, tmp_path):
    """`curate serve MODEL --adapter DIR`'s loader: the adapter merged, prompts rendered by the chat
    renderer; the first token's logprob equals base + adapter's own computation."""
    import threading

    import torch
    from peft import PeftModel

    from curate.lm.http import ChatClient, Endpoint
    from curate.models import load_causal_lm, load_tokenizer
    from curate.serve import load_chat_model, serve

    run, _ = trained_run
    summary = json.loads((run / "train" / "summary.json").read_text())
    cm = load_chat_model(summary["model"], adapter=Path(summary["adapter_dir"]))
    assert cm.model_id.endswith("+run")
    httpd = serve(cm, port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        ep = Endpoint(base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1", model=cm.model_id)
        msgs = [{"role": "user", "content": "民法典第一条的内容是什么？"}]
        ans = ChatClient(ep).complete_many([{"messages": msgs, "max_tokens": 3, "logprobs": True,
                                             "top_logprobs": 2}])[0]  # fmt: skip
    finally:
        httpd.shutdown()
        httpd.server_close()
    lp = ans["choices"][0]["logprobs"]["content"][0]
    tok = load_tokenizer(summary["model"])
    lm = PeftModel.from_pretrained(load_causal_lm(summary["model"]), summary["adapter_dir"]).eval()
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    with torch.no_grad():
        logits = lm(input_ids=torch.tensor([tok(ids, add_special_tokens=False)["input_ids"]])).logits[0, -1]
    want = torch.log_softmax(logits.double(), -1)
    assert lp["top_logprobs"][0]["logprob"] == pytest.approx(float(want.max()), abs=1e-4)
    assert ans["usage"]["completion_tokens"] <= 3
