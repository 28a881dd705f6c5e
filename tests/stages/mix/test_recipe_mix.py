"""The mixing stages through the real runner on the shipped quickstart data (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate.app import run
from curate.errors import LicenseError
from curate.formats.evalset import write_eval_files
from curate.recipe import parse

DATA = Path(__file__).parents[3] / "recipes" / "data"
RECIPE = f"""
name: mix-e2e
seed: 7
allowed_licenses: [apache-2.0, mit, bsd]
sources:
  - name: lawqa
    path: {DATA}/lawbench_consult.jsonl
    format: alpaca
    columns: {{prompt: query, response: response, system: system}}
    domain: legal
    task: consult
    license: Apache-2.0
  - name: chitchat
    path: {DATA}/chitchat.sharegpt.json
    format: sharegpt
    domain: general
    license: MIT
  - name: chatterbot
    path: {DATA}/chatterbot.prh.jsonl
    format: prompt_response_history
    domain: general
    license: BSD-3-Clause
stages:
  - split: {{fraction: 0.1}}
  - cap.per_task: {{max_rows: 200}}
  - mix.ratio: {{domain: legal, general_per_domain: 3, unit: examples, report_tokens: false}}
  - truncate.history: {{max_chars: 1500}}
output: {{format: sharegpt}}
"""


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory):
    if not DATA.exists():
        pytest.skip("recipes/data not present")
    return run(parse(RECIPE), out=tmp_path_factory.mktemp("run"), progress=False)


def test_runner_balances_and_records_stats(result):
    stages = {s["name"]: s for s in result.stages}
    held = stages["split"]["side"]["eval"]
    assert abs(held - (40 + 156)) <= 2  # 10% of 400 legal and of 1,558 general, in whole leak groups
    assert stages["split"]["stats"]["id_overlap"] == 0 and stages["split"]["stats"]["exact_merges"] > 0
    assert stages["cap.per_task"]["reasons"] == {"task_cap": 160}
    mix = stages["mix.ratio"]["stats"]
    assert mix["achieved_general_per_domain"] == 3.0  # 200 legal kept whole, general sampled to 600
    assert stages["truncate.history"]["stats"]["rows_in"] == 800
    json.dumps(result.manifest)  # stats are plain JSON
    licenses = {m["source"]: m for m in result.manifest["output"]["licenses"]}
    assert (
        licenses["lawqa"]["license"] == "Apache-2.0"
        and abs(sum(m["share"] for m in licenses.values()) - 1) < 1e-3
    )


def test_eval_side_output_becomes_eval_files(result, tmp_path: Path):
    paths = write_eval_files(result.side["eval"], tmp_path, pool=result.output)
    assert len(paths["eval"].read_text(encoding="utf-8").splitlines()) == result.side["eval"].height
    assert paths["mcq"].stat().st_size > 0 and paths["html"].exists()


def test_disallowed_license_stops_the_run(tmp_path: Path):
    if not DATA.exists():
        pytest.skip("recipes/data not present")
    recipe = parse(RECIPE.replace("[apache-2.0, mit, bsd]", "[apache-2.0, mit]"))
    with pytest.raises(LicenseError, match="chatterbot"):
        run(recipe, out=tmp_path / "run", progress=False)
