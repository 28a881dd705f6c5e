"""``executor: ray`` gives the local executor's output byte for byte, and avoids two published traps.

One local Ray instance for the module (``ray.init(num_cpus=2)``, as CI has 2 cores), shut down
after. The traps: a dedup that is only per worker (Data-Juicer #971: copies in different blocks
all survived) and identification and removal disagreeing on partitioning (NeMo Curator #2092).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import curate
from curate.fields import field_text
from curate.pipeline.executors import LocalExecutor, get_executor
from curate.pipeline.registry import get
from curate.pipeline.shards import Shards
from curate.pipeline.stage import StageContext
from curate.recipe import load
from curate.schema import frame, text_row

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "tests" / "data" / "dedup" / "real_docs.jsonl"
DATA = ROOT / "recipes" / "data"
RECIPE = f"""name: ray-identity
seed: 42
sources:
  - {{name: law_qa, path: {DATA}/lawbench_consult.jsonl, format: alpaca, domain: law, task: consult,
      columns: {{prompt: query, response: response, system: system}}, license: apache-2.0}}
  - {{name: chitchat, path: {DATA}/chitchat.sharegpt.json, format: auto, domain: general, license: mit}}
  - {{name: chatterbot, path: {DATA}/chatterbot.prh.jsonl, format: prompt_response_history,
      domain: general, license: bsd-3-clause}}
stages:
  - clean.normalize: {{}}
  - clean.filler_words: {{}}
  - filter.empty_turns: {{}}
  - filter.length: {{field: assistant, min_chars: 2, max_chars: 4000}}
  - filter.refusal: {{}}
  - dedup.exact: {{}}
  - dedup.minhash: {{threshold: 0.85, keep: longest}}
  - dedup.semantic: {{cluster_rows: 200, report_eps: [0.1]}}
  - tag.intent: {{min_rows: 3}}
  - cap.per_task: {{max_rows: 300}}
  - split: {{fraction: 0.05}}
  - mix.ratio: {{domain: law, general_per_domain: 3, unit: examples}}
  - convert: {{to: sharegpt}}
output: {{format: [sharegpt, alpaca], file_format: jsonl}}
"""


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")  # never a cluster
    yield
    ray.shutdown()


def files(root: Path) -> dict[str, bytes]:
    """Every output, eval and stage file of a run (not the manifest or ``_done.json``: they hold
    timings; not the kept shards: the local run writes thin ones, see ``kept_tables``)."""
    keep = ("output", "eval", "stages")
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.relative_to(root).parts[0] in keep
        and p.name != "_done.json"
        and not p.name.startswith(("kept-", "rows-"))
    }


def kept_tables(root: Path) -> dict[str, pl.DataFrame]:
    """Each stage's kept rows as readers see them (a thin stage's rebuilt, ``pipeline.thin``)."""
    return {d.name: Shards.of(d).collect() for d in sorted((root / "stages").iterdir()) if d.is_dir()}


@pytest.mark.slow  # ~90 s on 2 quiet cores, ~8 min at load 9: a local run, then Ray starting actors per stage
def test_a_real_recipe_gives_identical_files_on_ray_and_locally(local_ray, tmp_path: Path) -> None:
    """Three real sources, five row stages, exact + MinHash + semantic dedup, a task cap, split, mix,
    two output formats:
    locally through the API, on Ray through ``curate run --executor ray`` (the CLI keeps the test's
    Ray instance, as any caller that ran ``ray.init`` first)."""
    from click.testing import CliRunner

    from curate.cli import cli

    (tmp_path / "r.yaml").write_text(RECIPE, encoding="utf-8")
    curate.run(load(tmp_path / "r.yaml"), out=tmp_path / "local", train=False, progress=False)
    args = [
        "run",
        str(tmp_path / "r.yaml"),
        "--out",
        str(tmp_path / "ray"),
        "--no-train",
        "--executor",
        "ray",
    ]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    a, b = files(tmp_path / "local"), files(tmp_path / "ray")
    assert any(k.startswith("output/") for k in a) and any(k.endswith("removed.parquet") for k in a)
    assert a.keys() == b.keys()
    # JSON/JSONL byte for byte; Parquet by content (the streaming local path writes other row groups)
    differ = [k for k in a if a[k] != b[k]]
    assert [k for k in differ if not k.endswith(".parquet")] == []
    for k in differ:
        x, y = pl.read_parquet(tmp_path / "local" / k), pl.read_parquet(tmp_path / "ray" / k)
        assert x.equals(y), k
    ka, kb = kept_tables(tmp_path / "local"), kept_tables(tmp_path / "ray")
    assert ka.keys() == kb.keys()
    for k in ka:
        assert ka[k].equals(kb[k]), k
    local, dist = (
        json.loads((tmp_path / n / "manifest.json").read_text("utf-8"))["stages"] for n in ("local", "ray")
    )
    for s, t in zip(local, dist, strict=True):
        assert (s["name"], s["kept"], s["removed"], s["reasons"]) == (
            t["name"],
            t["kept"],
            t["removed"],
            t["reasons"],
        )
    by = {s["name"]: s for s in dist}
    assert by["dedup.exact"]["removed"] > 0 and by["dedup.minhash"]["removed"] > 0
    assert by["cap.per_task"]["removed"] > 0 and by["dedup.semantic"]["removed"] > 0
    assert by["dedup.semantic"]["stats"]["embedding"]["ray"]  # embedded on Ray, not on the driver
    assert by["dedup.minhash"]["stats"]["ray_label_rounds"] >= 2  # the components really ran on Ray
    lm = {s["name"]: s for s in local}["dedup.minhash"]["stats"]
    assert {k: v for k, v in by["dedup.minhash"]["stats"].items() if k != "ray_label_rounds"} == lm


def test_mixing_caps_and_semantic_dedup_decide_alike_whatever_the_blocks(local_ray, monkeypatch) -> None:
    """The global stages that decide from narrow columns (mix.ratio, cap.per_task, split, whose
    near-duplicate leak check runs as dedup.minhash does on Ray) and the distributed SemDeDup
    (embedding per block, k-means fit on a sample, walk per cluster) give the local result, stats
    included, on uneven blocks of real LawBench rows with planted copies."""
    from tests.helpers import lawbench_rows

    law = lawbench_rows(12)
    df = pl.concat([law, law.head(40).with_columns(pl.col("id") + "-copy", pl.col("origin") + "-copy")])
    weights = {"1-1法条背诵": 1.0, "2-9事件检测": 2.0, "3-1法条预测(基于事实)": 1.0}
    cases = [
        ("cap.per_task", {"max_rows": 9}),
        ("mix.ratio", {"by": "task", "weights": weights, "max_copies_per_row": 2, "per_task_cap": 14}),
        ("dedup.semantic", {"report_eps": [0.02, 0.2], "clusters": 5}),
        ("dedup.semantic", {"keep": "centroid", "clusters": 5}),
        ("split", {"fraction": 0.2, "by": "task"}),
    ]
    import curate.pipeline.executors.ray.split as ray_split

    found: list[np.ndarray] = []
    near_groups = ray_split.near_groups

    def spy(*a: object, **k: object) -> np.ndarray:
        found.append(near_groups(*a, **k))
        return found[-1]

    monkeypatch.setattr(ray_split, "near_groups", spy)
    for name, cfg in cases:
        alike(name, df, 37, **cfg)
    assert len(found) == 1 and np.unique(found[0]).size < df.height  # split's near check ran on Ray


def test_clustering_selection_and_total_caps_run_on_ray_and_decide_alike(local_ray) -> None:
    """tag.clusters and select.diverse embed per block and fit/walk on Ray (the driver never embeds);
    select.top/per_cluster/tag_coverage, cap.total, mix.temperature and sample.random decide from
    narrow columns (the first two run here, the rest share the mechanism); all give the
    local result, stats included, on uneven blocks of real LawBench rows with a score column
    (nulls and ties) and planted copies."""
    from curate.pipeline.executors.ray.planned import plans
    from tests.helpers import lawbench_rows

    law = lawbench_rows(12)
    df = pl.concat([law, law.head(40).with_columns(pl.col("id") + "-copy", pl.col("origin") + "-copy")])
    length = field_text("user").str.len_chars() % 50
    df = df.with_columns(score_len=pl.when(pl.int_range(pl.len()) % 11 == 3).then(None).otherwise(length))
    top = {"score": "score_len", "top_fraction": 0.5, "by": "task", "min": 3}
    planned = [
        ("select.top", top),
        ("cap.total", {"max_rows": 100, "by": "task", "score": "score_len"}),
        ("select.per_cluster", {"by": "task", "total": 60, "score": "score_len"}),
        ("select.tag_coverage", {"column": "task", "n": 50}),
        ("mix.temperature", {"by": "task", "unit": "examples"}),
        ("sample.random", {"fraction": 0.3, "by": "task"}),
    ]
    assert all(plans(get(name)(cfg)) for name, cfg in planned)
    for name, cfg in planned[:2]:
        alike(name, df, 70, **cfg)
    tagged = alike("tag.clusters", df, 70, k=6)
    assert tagged.stats["embedding"]["ray"] and tagged.kept["tag_cluster"].n_unique() == 6  # embedded on Ray
    chosen = alike("select.diverse", df, 70, by="task", tau=0.5, n=8, score="score_len")
    assert chosen.stats["embedding"]["ray"] and chosen.stats["reasons"]["too_similar"]


def alike(name: str, df: pl.DataFrame, block_rows: int, **cfg: object):
    """The Ray result of stage ``name`` on ``df``, after checking it equals the local one."""
    local, dist = both(name, df, block_rows, **cfg)
    assert dist.kept.equals(local.kept), (name, cfg)
    assert (dist.removed is None and local.removed is None) or dist.removed.equals(local.removed), (name, cfg)
    assert dist.side.keys() == local.side.keys()
    assert all(dist.side[k].equals(v) for k, v in local.side.items())
    assert dist.added == local.added
    if name != "tag.clusters":
        assert dist.n_removed + sum(v.height for v in dist.side.values()) > 0, (name, cfg)
    drop = ("seconds", "embedding")
    assert {k: v for k, v in dist.stats.items() if k not in drop} == {
        k: v for k, v in local.stats.items() if k not in drop
    }
    return dist


def docs(source: str, k: int) -> list[str]:
    rows = [json.loads(line) for line in DOCS.read_text("utf-8").splitlines()]
    return [d["text"] for d in rows if d["source"] == source and len(d["text"]) > 40][:k]


def edited(t: str) -> str:
    """One character replaced mid-text and one appended: a near copy, and the longer one."""
    m = len(t) // 2
    return t[:m] + "某" + t[m + 1 :] + "。"


def both(name: str, df: pl.DataFrame, block_rows: int, **cfg: object):
    stage = get(name)(cfg, ctx=StageContext(seed=7, workers=1))
    return LocalExecutor().apply(stage, df), get_executor("ray", block_rows=block_rows).apply(stage, df)


def test_duplicates_in_different_blocks_are_found_globally(local_ray) -> None:
    """Data-Juicer #971: every block holds each text once, so a per-worker dedup removes nothing."""
    texts = docs("laws", 20) + docs("reviews", 20)
    exact = frame([text_row(t, origin=f"copy{c}:{i}") for c in range(3) for i, t in enumerate(texts)])
    per_block = [get("dedup.exact")().apply(exact.slice(a, 40)).n_removed for a in range(0, 120, 40)]
    assert per_block == [0, 0, 0]
    local, dist = both("dedup.exact", exact, 40)
    assert dist.n_removed == local.n_removed == 80
    assert dist.kept.equals(local.kept) and dist.removed.equals(local.removed)
    near = frame(
        [
            text_row(t if c == 0 else edited(t), origin=f"copy{c}:{i}")
            for c in range(2)
            for i, t in enumerate(texts)
        ]
    )
    local, dist = both("dedup.minhash", near, 40)
    assert dist.n_removed == local.n_removed == 40
    assert dist.kept.equals(local.kept) and dist.removed.equals(local.removed)


@pytest.mark.parametrize("name", ["dedup.exact", "dedup.minhash"])
def test_identification_and_removal_agree_whatever_the_blocks(local_ray, name: str) -> None:
    """NeMo Curator #2092: removal must hit exactly the rows identification chose, however the table
    is cut. Survivors by ``keep: longest`` (not input order), duplicates scattered over uneven blocks."""
    texts = docs("laws", 15) + docs("news", 10) + docs("reviews", 15)
    copy = edited if name == "dedup.minhash" else (lambda t: t + " ")  # exact: same normalized text
    rows = [text_row(t, origin=f"a{i}") for i, t in enumerate(texts)]
    rows += [text_row(copy(t), origin=f"b{i}") for i, t in enumerate(texts) if i % 2 == 0]
    rows += [text_row(t, origin=f"c{i}") for i, t in enumerate(texts) if i % 3 == 0]
    df = frame(rows[::-1])
    ref = None
    for block_rows in (7, 1000):
        local, dist = both(name, df, block_rows, keep="longest")
        assert dist.kept.equals(local.kept) and dist.removed.equals(local.removed)
        assert dist.stats.get("removed") == local.stats.get("removed") > 0
        assert set(dist.removed["dup_of"]) <= set(dist.kept["id"])  # every survivor really stays
        assert not set(dist.kept["origin"]) & set(dist.removed["origin"])  # a row is kept or removed
        ref = dist.removed if ref is None else ref
        assert dist.removed.equals(ref)


def test_label_propagation_finds_scipys_components_and_survivors(local_ray) -> None:
    """The components behind dedup.minhash on Ray, on a random graph (chains, stars, cycles) with
    random survivor ranks, against the local scipy call."""
    import numpy as np

    from curate.pipeline.executors.ray.components import components
    from curate.pipeline.executors.ray.session import collect, configure
    from curate.text.dupclusters import by_components

    configure()
    rng = np.random.default_rng(3)
    n = 300
    i, j = rng.integers(0, n, 260), rng.integers(0, n, 260)
    i, j = np.minimum(i, j)[i != j], np.maximum(i, j)[i != j]
    rank = rng.permutation(n)
    edges = pl.DataFrame({"i": i, "j": j, "ri": rank[i], "rj": rank[j]})
    nodes, rounds = components(ray.data.from_arrow(edges.to_arrow()), parts=3)
    got = collect(nodes).sort("node")
    want = by_components(n, i, j, rank)
    assert got["node"].to_list() == sorted(set(i) | set(j))
    assert got["lrow"].to_list() == want[got["node"].to_numpy()].tolist()
    assert rounds > 3  # long enough chains that one pass would not have done
