"""curate validate catches what a run would trip on later (issue 13 item 4), without loading weights."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from curate.cli import main

DATA = Path(__file__).resolve().parent / "data"


def _validate(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], recipe: Path
              ) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["curate", "validate", str(recipe)])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def recipe(tmp_path: Path):
    shutil.copy(DATA / "alpaca.json", tmp_path / "alpaca.json")

    def write(body: str, sources: str = "  - {name: a, path: alpaca.json}\n") -> Path:
        p = tmp_path / "r.yaml"
        p.write_text(f"name: r\nsources:\n{sources}{body}", encoding="utf-8")
        return p

    return write


def test_good_recipe_is_ok_and_counts_files(recipe, monkeypatch, capsys):
    good = recipe("stages:\n  - filter.language: {languages: [en, zh]}\n")
    code, out = _validate(monkeypatch, capsys, good)
    assert code == 0 and "1 files" in out


def test_misspelled_source_path(recipe, monkeypatch, capsys):
    code, out = _validate(monkeypatch, capsys, recipe("", "  - {name: a, path: alpacca.json}\n"))
    assert code == 2 and "r.yaml:3" in out and "sources.0.path" in out and "not found" in out


def test_glob_that_matches_nothing(recipe, monkeypatch, capsys):
    code, out = _validate(monkeypatch, capsys, recipe("", "  - {name: a, path: 'data/*.jsonl'}\n"))
    assert code == 2 and "no readable files match" in out


def test_unknown_model_name(recipe, monkeypatch, capsys):
    code, out = _validate(monkeypatch, capsys, recipe("train: {model: smollm2-135}\n"))
    assert code == 2 and "train.model" in out and "did you mean 'smollm2-135m'" in out
    code, out = _validate(monkeypatch, capsys,
                          recipe("stages:\n  - filter.length: {max_tokens: 512, model: minilm}\n"))
    assert code == 2 and "stages.0.filter.length.model" in out and "unknown model 'minilm'" in out


def test_uncached_hub_id(recipe, monkeypatch, capsys):
    code, out = _validate(monkeypatch, capsys, recipe("train: {model: no-such-org/no-such-model}\n"))
    assert code == 2 and "not in the Hugging Face cache" in out


def test_bad_language_code(recipe, monkeypatch, capsys):
    code, out = _validate(monkeypatch, capsys,
                          recipe("stages:\n  - filter.language: {languages: [en, zh, xx]}\n"))
    assert code == 2 and "unknown language code 'xx'" in out and "r.yaml:5" in out


def test_train_key_typo(recipe, monkeypatch, capsys):
    code, out = _validate(monkeypatch, capsys, recipe("train: {model: smollm2-135m, max_lenght: 256}\n"))
    assert code == 2 and "did you mean 'max_len'" in out


def test_missing_language_id_model_file(recipe, monkeypatch, capsys):
    code, out = _validate(monkeypatch, capsys,
                          recipe("stages:\n  - filter.language: {model_path: lid.999.ftz}\n"))
    assert code == 2 and "model_path" in out and "lid.999.ftz" in out
