"""The CLI as a user runs it: a subprocess on the shipped quickstart recipe, and error rendering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import cli

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "recipes" / "quickstart.yaml"


def _curate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "curate", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_quickstart_runs_end_to_end(tmp_path: Path):
    out = tmp_path / "qs"
    p = _curate("run", str(QUICKSTART), "--out", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["output"]["rows"] > 100
    assert {s["name"] for s in m["sources"]} >= {"law_qa", "chitchat"}
    assert (out / "report.html").exists() and (out / "output").is_dir()
    assert "stage" in p.stdout and "output" in p.stdout
    if m.get("train"):
        assert m["train"]["final_eval_loss"] < m["train"]["base_eval_loss"]
    s = _curate("stats", str(out), "--json", cwd=tmp_path)
    assert s.returncode == 0 and json.loads(s.stdout)["rows"] == m["output"]["rows"]


def test_validate_quickstart():
    r = CliRunner().invoke(cli, ["validate", str(QUICKSTART)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("ok:")


def test_recipe_error_is_one_line_with_hint_and_exit_2(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsources:\n  - {name: a, path: a.jsonl}\nstages:\n  - filter.lenght: {}\n")
    p = _curate("validate", str(bad), cwd=tmp_path)
    assert p.returncode == 2
    assert "bad.yaml:5" in p.stderr and "did you mean 'filter.length'" in p.stderr
    assert "Traceback" not in p.stderr


def test_convert_and_stats_roundtrip(tmp_path: Path):
    src = ROOT / "recipes" / "data"
    alpaca = next(iter(sorted(src.glob("*.jsonl"))), None)
    if alpaca is None:
        pytest.skip("no sample data")
    out = tmp_path / "x.sharegpt.jsonl"
    r = CliRunner().invoke(cli, ["convert", str(alpaca), "--to", "sharegpt", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.exists() and "wrote" in r.output
    r2 = CliRunner().invoke(cli, ["stats", str(out), "--json"])
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.stdout)["format"] == "sharegpt"


def test_stages_reference_lists_options():
    r = CliRunner().invoke(cli, ["stages", "filter.length"])
    assert r.exit_code == 0 and "max_chars" in r.output and "min_tokens" in r.output
    r = CliRunner().invoke(cli, ["stages"])
    assert "dedup.exact" in r.output and "sample.random" in r.output


def test_every_command_has_help():
    for cmd in ("run", "validate", "convert", "stats", "report", "stages"):
        r = CliRunner().invoke(cli, [cmd, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output, cmd


def test_stage_reference_doc_is_current():
    from curate.pipeline.docs import reference_markdown

    doc = ROOT / "docs" / "stages.md"
    assert doc.read_text(encoding="utf-8").strip() == reference_markdown().strip(), (
        "docs/stages.md is stale: run `curate stages --markdown > docs/stages.md`"
    )
