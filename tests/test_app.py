"""The runner: ledger invariant across a whole run, stage reuse, resume after a kill, --force."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

import curate
from curate.errors import StageError
from curate.pipeline import registry
from curate.pipeline.rundir import RunDir
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult
from curate.recipe import parse
from tests.helpers import chatterbot_dialogues


def _chatterbot_alpaca(tmp: Path) -> Path:
    """Real Chinese + English Q/A pairs from chatterbot-corpus as Alpaca JSONL, plus two bad lines."""
    lines = [
        json.dumps({"instruction": t[0], "input": "", "output": t[1]}, ensure_ascii=False)
        for _, _, t in chatterbot_dialogues()
    ]
    lines.insert(3, '{"instruction": "broken json",')
    lines.insert(7, json.dumps({"instruction": "no output here"}))
    p = tmp / "pairs.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _recipe(tmp: Path, stages: list, **extra) -> curate.recipe.Recipe:
    data = _chatterbot_alpaca(tmp)
    body = {
        "name": "t",
        "seed": 5,
        "sources": [{"name": "bot", "path": str(data), "format": "alpaca", "license": "bsd-3-clause"}],
        "stages": stages,
        "output": {"format": ["sharegpt", "alpaca"]},
        **extra,
    }
    p = tmp / "r.yaml"
    p.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    return parse(p.read_text(encoding="utf-8"), file=str(p), path=p)


STAGES = [{"filter.length": {"min_chars": 12}}, "dedup.exact", {"sample.random": {"fraction": 0.5}}]


def test_every_record_is_accounted_for(tmp_path: Path):
    res = curate.run(_recipe(tmp_path, STAGES), out=tmp_path / "run")
    lines = (tmp_path / "pairs.jsonl").read_text(encoding="utf-8").strip().split("\n")
    m = res.manifest
    removed = sum(s["removed"] for s in m["stages"][1:])
    assert m["rejects"] == 2
    assert len(lines) == m["output"]["rows"] + removed + m["rejects"]
    for s in m["stages"]:
        assert s["rows_in"] + s["added"] == s["kept"] + s["removed"] + sum(s["side"].values())
    rej = res.rejects()
    assert sorted(rej["line"].to_list()) == [4, 8]
    assert res.removed()["reason"].null_count() == 0
    # outputs exist in both formats and the canonical table matches
    out = tmp_path / "run" / "output"
    assert (out / "train.sharegpt.jsonl").exists() and (out / "train.alpaca.jsonl").exists()
    n_lines = sum(1 for _ in (out / "train.alpaca.jsonl").open(encoding="utf-8"))
    assert n_lines == m["output"]["rows"] == res.output.height
    assert (tmp_path / "run" / "report.html").read_text(encoding="utf-8").count("<svg") >= 2


def test_rerun_reuses_and_config_change_reruns_from_there(tmp_path: Path, monkeypatch):
    run_dir = tmp_path / "run"
    r1 = curate.run(_recipe(tmp_path, STAGES), out=run_dir)
    read = RunDir.read_kept
    reads: list[str] = []
    monkeypatch.setattr(RunDir, "read_kept", staticmethod(lambda d: (reads.append(d.name), read(d))[1]))
    r2 = curate.run(_recipe(tmp_path, STAGES), out=run_dir)
    assert all(s["reused"] for s in r2.manifest["stages"])
    assert r2.output.equals(r1.output)
    assert reads == [f"{len(STAGES):02d}-{next(iter(STAGES[-1]))}"]  # only the last checkpoint is read
    changed = [STAGES[0], STAGES[1], {"sample.random": {"fraction": 0.25}}]
    r3 = curate.run(_recipe(tmp_path, changed), out=run_dir)
    assert [s["reused"] for s in r3.manifest["stages"]] == [True, True, True, False]
    r4 = curate.run(_recipe(tmp_path, changed), out=run_dir, force=True)
    assert not any(s["reused"] for s in r4.manifest["stages"])
    assert r4.output.equals(r3.output)  # seeded: same result when forced


def test_killed_run_resumes_at_first_unfinished_stage(tmp_path: Path):
    run_dir = tmp_path / "run"
    full = curate.run(_recipe(tmp_path, STAGES), out=run_dir)
    (run_dir / "stages" / "02-dedup.exact" / "_done.json").unlink()  # as if killed inside stage 2
    again = curate.run(_recipe(tmp_path, STAGES), out=run_dir)
    assert [s["reused"] for s in again.manifest["stages"]] == [True, True, False, False]
    assert again.output.equals(full.output)


class _Leaky(GlobalStage):
    """Loses a row: the runner must refuse."""

    class Config(StageConfig):
        pass

    def apply(self, df: pl.DataFrame) -> StageResult:
        return StageResult(kept=df.slice(1))


def test_runner_refuses_an_unbalanced_ledger(tmp_path: Path):
    registry.register("test.leaky")(_Leaky)
    with pytest.raises(StageError, match="ledger does not balance"):
        curate.run(_recipe(tmp_path, ["test.leaky"]), out=tmp_path / "run")


def test_on_error_fail_stops_at_first_bad_record(tmp_path: Path):
    with pytest.raises(curate.errors.InputError, match=r"pairs\.jsonl:4"):
        curate.run(_recipe(tmp_path, [], on_error="fail"), out=tmp_path / "run")


def test_stats_of_a_run_has_the_funnel(tmp_path: Path):
    res = curate.run(_recipe(tmp_path, STAGES), out=tmp_path / "run")
    s = curate.stats(tmp_path / "run")
    assert [f["name"] for f in s["funnel"]] == ["read", "filter.length", "dedup.exact", "sample.random"]
    assert s["rows"] == res.output.height
    assert s["lengths"]["assistant"]["p50"] > 0


def test_stage_warnings_reach_manifest_report_and_survive_reuse(tmp_path: Path):
    """Issue 11 items 4-5: damage a stage does (rows cut or removed, repeats) is a run warning."""
    stages = [{"truncate.history": {"max_chars": 30}}]
    res = curate.run(_recipe(tmp_path, stages), out=tmp_path / "run")
    warned = [w for w in res.manifest["warnings"] if w.startswith("truncate.history: domain general:")]
    assert warned and "cut or removed" in warned[0]
    assert res.manifest["stages"][1]["warnings"]
    assert "Warnings" in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    again = curate.run(_recipe(tmp_path, stages), out=tmp_path / "run")
    assert again.manifest["stages"][1]["reused"] and again.manifest["warnings"] == res.manifest["warnings"]


def test_repeats_are_visible_in_summary_manifest_and_report(tmp_path: Path):
    """Issue 11 item 5: up-sampled repeats used to show nowhere ("removed 0", no warning)."""
    from click.testing import CliRunner

    from curate.cli import cli

    mix = {"by": "source", "weights": {"bot": 1}, "unit": "examples", "total_units": 5000}
    _recipe(tmp_path, [{"mix.ratio": {**mix, "max_copies_per_row": 3, "report_tokens": False}}])
    r = CliRunner().invoke(
        cli, ["run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run"), "--no-train"]
    )
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    added = m["stages"][1]["added"]
    assert added > 0 and f"+{added:,}" in r.output and "repeats" in r.output
    assert any(w.startswith("mix.ratio: ") and "are repeats" in w for w in m["warnings"])
    assert "repeats added" in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")


BUILT: list[int] = []


class _Counted(GlobalStage):
    """Keeps everything; counts how often its Config is built."""

    class Config(StageConfig):
        keep: bool = True

        def model_post_init(self, _ctx: object) -> None:
            BUILT.append(1)

    def apply(self, df: pl.DataFrame) -> StageResult:
        return StageResult(kept=df)


def test_the_recipe_is_parsed_once(tmp_path: Path):
    """Each stage's Config is built when the recipe is parsed and reused by the runner."""
    registry.register("test.counted")(_Counted)
    BUILT.clear()
    recipe = _recipe(tmp_path, [{"test.counted": {"keep": True}}])
    assert len(BUILT) == 1 and recipe.stages[0].config.keep
    curate.run(recipe, out=tmp_path / "run", train=False)
    assert len(BUILT) == 1


def test_a_threshold_change_re_splits_without_re_scoring(tmp_path: Path, monkeypatch):
    """filter.length's scores are cached apart from its thresholds: min_chars 12 -> 40 re-runs only
    the split (the score function is not called again), and the result equals a fresh run."""
    from curate.stages.filter.length import LengthFilter

    calls: list[int] = []
    score = LengthFilter.transform
    monkeypatch.setattr(LengthFilter, "transform", lambda s, b: (calls.append(b.height), score(s, b))[1])

    def run(min_chars: int, out: str, **more: str) -> curate.app.RunResult:
        stages = [{"filter.length": {"min_chars": min_chars, **more}}, "dedup.exact"]
        return curate.run(_recipe(tmp_path, stages), out=tmp_path / out)

    first = run(12, "run")
    assert calls
    calls.clear()
    again = run(40, "run")
    assert calls == []  # not re-scored
    rec = {s["name"]: s for s in again.stages}
    assert not rec["filter.length"]["reused"] and rec["filter.length"]["stats"] == {"scores_reused": True}
    assert not rec["dedup.exact"]["reused"]  # its input changed, so it re-ran
    fresh = run(40, "fresh")
    assert calls  # a new run dir scores again
    assert again.output.equals(fresh.output) and again.output.height < first.output.height
    calls.clear()
    run(40, "run", field="user")
    assert calls  # a scoring knob (the field) changed: scores are recomputed
