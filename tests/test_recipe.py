"""Recipe parsing: every error names file, line, key and what is valid."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from curate.errors import RecipeError
from curate.recipe import load, parse

GOOD = """\
name: demo
seed: 7
sources:
  - name: law
    path: data/law.jsonl
    format: alpaca
    columns: {prompt: query, response: response}
    license: apache-2.0
stages:
  - filter.length: {min_chars: 8, max_chars: 8000}
  - dedup.exact
  - sample.random: {n: 10}
output: {format: [sharegpt, alpaca]}
"""


def _err(text: str) -> RecipeError:
    with pytest.raises(RecipeError) as e:
        parse(textwrap.dedent(text), file="r.yaml")
    return e.value


def test_good_recipe_parses_with_stage_lines():
    r = parse(GOOD, file="r.yaml")
    assert r.name == "demo" and r.seed == 7
    assert [s.name for s in r.stages] == ["filter.length", "dedup.exact", "sample.random"]
    assert [s.line for s in r.stages] == [10, 11, 12]
    assert r.stages[0].params == {"min_chars": 8, "max_chars": 8000}
    assert r.output.formats == ["sharegpt", "alpaca"]


def test_unknown_stage_suggests_nearest_and_names_line():
    e = _err(GOOD.replace("filter.length:", "filter.lenght:"))
    assert e.line == 10 and "unknown stage 'filter.lenght'" in e.message
    assert "filter.length" in (e.hint or "")


def test_unknown_stage_option_lists_valid_and_suggests():
    e = _err(GOOD.replace("max_chars: 8000", "max_char: 8000"))
    assert e.line == 10
    assert "'max_char'" in e.message and "max_chars" in (e.hint or "")
    assert "min_chars" in (e.valid or "")


def test_bad_option_type_names_key():
    e = _err(GOOD.replace("min_chars: 8,", "min_chars: lots,"))
    assert e.key == "stages.0.filter.length.min_chars"
    assert e.file == "r.yaml" and e.line == 10


def test_unknown_top_level_key_suggests():
    e = _err(GOOD.replace("seed: 7", "sed: 7"))
    assert e.line == 2 and e.key == "sed" and "seed" in (e.hint or "")


def test_unknown_source_key_names_its_line():
    e = _err(GOOD.replace("    license: apache-2.0", "    licence: apache-2.0"))
    assert e.line == 8 and "licence" in e.message and "license" in (e.hint or "")
    assert "columns" in (e.valid or "")


def test_bad_source_format_lists_valid_values():
    e = _err(GOOD.replace("format: alpaca", "format: alpacca"))
    assert e.line == 6 and e.key == "sources.0.format"
    assert "sharegpt" in e.message


def test_missing_sources_is_named():
    e = _err("name: x\nstages: []\n")
    assert e.key == "sources" and "missing" in e.message


def test_invalid_yaml_reports_line():
    e = _err("name: x\nsources: [\n  - a: b\n")
    assert e.line is not None and "YAML" in e.message


def test_bad_output_format_suggests():
    e = _err(GOOD.replace("format: [sharegpt, alpaca]", "format: sharegtp"))
    assert "sharegpt" in e.message


def test_stage_config_validator_message():
    e = _err(GOOD.replace("sample.random: {n: 10}", "sample.random: {}"))
    assert "exactly one of n or fraction" in e.message


def test_yaml_is_data_not_code(tmp_path: Path):
    p = tmp_path / "evil.yaml"
    p.write_text("name: !!python/object/apply:os.system ['echo pwned']\nsources: []\n")
    with pytest.raises(RecipeError, match="YAML"):
        load(p)


def test_missing_file():
    with pytest.raises(RecipeError, match="not found"):
        load("/nonexistent/recipe.yaml")


def test_train_knobs_belong_to_their_method(tmp_path: Path) -> None:
    """``method: full, rank: 64`` used to train a full model and silently ignore the rank."""
    from curate.train.config import TrainConfig

    p = tmp_path / "r.yaml"
    recipe = "name: x\nsources:\n  - name: a\n    path: a.jsonl\ntrain: {method: full, rank: 64}\n"
    p.write_text(recipe, encoding="utf-8")
    with pytest.raises(RecipeError, match=r"r.yaml:5: 'train'.*method: full does not use rank") as e:
        load(p)
    assert "rank is for method: lora, qlora" in str(e.value)
    assert TrainConfig(method="qlora", rank=64).rank == 64
    assert TrainConfig(method="full").rank == 8  # a default is not a choice: only set knobs are checked
    with pytest.raises(ValueError, match="num_virtual_tokens is for method: prompt_tuning"):
        TrainConfig(method="freeze", num_virtual_tokens=4)
