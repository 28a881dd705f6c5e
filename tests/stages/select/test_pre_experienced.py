"""Cherry's pre-experienced loop end to end on real LawBench rows: a cluster-balanced sample, a brief
LoRA through curate's trainer (the tiny random model: fast), IFD under that adapter, reuse."""

from __future__ import annotations

import copy

import polars as pl
import pytest

from curate.errors import ModelError
from curate.models import ModelHub
from curate.pipeline.stage import StageContext
from curate.stages.select.ifd import SelectIFD, balanced_sample
from curate.train.pre_experience import PreExperience
from tests.lm.ifd_reference import reference_scores
from tests.stages.mix.mixing_samples import law_frame


@pytest.fixture(scope="module")
def law() -> pl.DataFrame:
    rows = law_frame().group_by("task", maintain_order=True).head(4).head(24)  # 6 tasks x 4
    return rows.with_columns(cluster=pl.col("task").rank("dense").cast(pl.Int64) % 3)  # 3 clusters of 8


def test_balanced_sample_spreads_over_groups(law):
    s, by = balanced_sample(law, 9, "cluster", seed=1)
    assert by == "cluster" and s.height == 9 and s["cluster"].value_counts()["count"].to_list() == [3, 3, 3]
    lopsided = law.with_columns(cluster=pl.when(pl.int_range(pl.len()) < 2).then(0).otherwise(1))
    s, _ = balanced_sample(lopsided, 10, "cluster", seed=1)
    # the small group gives all it has
    assert sorted(s["cluster"].value_counts(sort=True)["count"].to_list()) == [2, 8]
    s, by = balanced_sample(law.drop("cluster"), 5, "cluster", seed=1)
    assert by is None and s.height == 5
    assert balanced_sample(law, 9, "cluster", seed=1)[0]["id"].to_list() == \
        balanced_sample(law, 9, "cluster", seed=1)[0]["id"].to_list()  # fmt: skip


def test_pre_experienced_ifd_end_to_end(law, tiny_lm, tmp_path):
    model, tok = tiny_lm
    trainer = PreExperience(tmp_path / "run" / "pre_experience", base=lambda name: copy.deepcopy(model))
    cfg = {
        "model": "tiny", "max": None, "max_tokens": 192, "max_answer_tokens": 48, "scorer": "pre_experienced",
        "quantize": None,
        "pre_experience": {"rows": 12, "steps": 3, "batch_size": 4, "max_len": 1024, "lr": 5e-2},
    }  # fmt: skip

    def run() -> tuple:
        hub = ModelHub(preloaded={"tiny": tiny_lm}, trainer=trainer)
        ctx = StageContext(models=hub, cache_dir=tmp_path / "cache", seed=3)
        return SelectIFD(cfg, ctx=ctx).apply(law), hub

    res, hub = run()
    pre = res.stats["pre_experience"]
    assert pre["rows"] == 12 and pre["by"] == "cluster" and pre["groups"] == 3 and not pre["reused"]
    assert pre["steps"] == 3
    sample = pl.read_parquet(f"{pre['dir']}/sample.parquet")
    assert sample["cluster"].value_counts()["count"].to_list() == [4, 4, 4]
    assert res.kept.height == law.height and res.kept["score_ifd"].is_not_null().all()
    # the scores are IFD under the trained adapter: equal to the reference with the merged model ...
    name = next(k for k in hub.preloaded if k.startswith("tiny@pre_experience"))
    trained = hub.preloaded[name][0]
    for r in res.kept.head(3).iter_rows(named=True):
        want, _, _ = reference_scores(trained, tok, r, max_answer=48, max_total=192)
        assert r["score_ifd"] == pytest.approx(want, abs=1e-4)
    # ... and not the base model's
    base = SelectIFD({k: v for k, v in cfg.items() if k not in ("scorer", "pre_experience")},
                     ctx=StageContext(models=ModelHub(preloaded={"tiny": tiny_lm}))).apply(law)  # fmt: skip
    assert base.stats["model_fingerprint"] != res.stats["model_fingerprint"]
    assert (base.kept["score_ifd"] - res.kept["score_ifd"]).abs().max() > 1e-3
    # a re-run reuses the adapter (no training) and its scores (no forward pass)
    again, _ = run()
    assert again.stats["pre_experience"]["reused"] and again.stats["passes_computed"] == 0
    assert again.stats["model_fingerprint"] == res.stats["model_fingerprint"]
    assert again.kept["score_ifd"].to_list() == res.kept["score_ifd"].to_list()


def test_pre_experienced_without_trainer_says_so(law, tiny_lm):
    ctx = StageContext(models=ModelHub(preloaded={"tiny": tiny_lm}))
    with pytest.raises(ModelError, match="needs curate's trainer"):
        SelectIFD({"model": "tiny", "scorer": "pre_experienced"}, ctx=ctx).apply(law)


def test_recipe_runs_the_loop_and_saves_it_in_the_run_dir(tiny_lm, tmp_path, monkeypatch):
    """Through curate.run: tag.clusters, then the app's trainer; the adapter lives in the run dir."""
    import yaml

    import curate

    model, tok = tiny_lm
    where = tmp_path / "tiny"
    copy.deepcopy(model).save_pretrained(where)
    tok.save_pretrained(where)
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "law.parquet"
    law_frame().group_by("task", maintain_order=True).head(2).head(16).write_parquet(data)
    pe = {"rows": 8, "steps": 2, "batch_size": 4, "lr": 5e-2}
    recipe = {
        "name": "cherry-test",
        "sources": [{"name": "law", "path": str(data), "format": "canonical", "license": "apache-2.0"}],
        "stages": [
            {"tag.clusters": {"k": 4}},
            {"select.ifd": {"model": str(where), "scorer": "pre_experienced", "pre_experience": pe,
                            "max_tokens": 256, "max_answer_tokens": 32, "top_fraction": 0.5}},
        ],
        "output": {"format": "sharegpt"},
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    res = curate.run(path, out=tmp_path / "run", train=False)
    st = {s["name"]: s for s in res.stages}["select.ifd"]
    pre = st["stats"]["pre_experience"]
    assert pre["by"] == "cluster" and pre["groups"] >= 2 and pre["rows"] == 8
    saved = next((tmp_path / "run" / "pre_experience").iterdir())
    assert (saved / "adapter" / "adapter_config.json").exists() and (saved / "sample.parquet").exists()
    assert st["kept"] == 8 and res.output.height == 8
