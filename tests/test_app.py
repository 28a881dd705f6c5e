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
