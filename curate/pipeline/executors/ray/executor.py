"""``RayExecutor``: the same stages on Ray Data (``executor: ray``, ``curate run --executor ray``).

What runs where (docs/scaling.md has the table and how to point it at a cluster):

* every row stage (filters, cleaners, scorers, truncation, format): ``map_batches`` over blocks;
  tasks, or an actor pool when the stage's config names a ``model``;
* ``dedup.exact``: keys per block, one global hash partition by key (``dedup_exact``);
* ``dedup.minhash``: signatures, band buckets, verification and connected components on Ray
  (``dedup_minhash``); ``clustering: greedy`` runs locally;
* ``dedup.semantic``, ``tag.clusters``, ``select.diverse``: embeddings per block (a fitted TF-IDF
  embedder broadcast, or an actor pool for model embedders; ``embed``), then ``semantic``: k-means
  fit on a sample and assigned per block, one shuffle by cluster for the walk; ``clusters``: the
  same fit and assignment, label words counted per block and scored per word partition;
  ``diverse``: one shuffle by group, each group walked in one task;
* ``split``: its near-duplicate leak check as ``dedup_minhash`` (``split``), then planned;
* global stages that ``plan`` from narrow columns (``mix.ratio``, ``mix.temperature``,
  ``cap.per_task``, ``cap.total``, ``sample.random``, ``select.top``, ``select.per_cluster``,
  ``select.tag_coverage``, ``split``): ``prepare`` per block, ``plan`` on the driver, the split per
  block (``planned``);
* ``select.ifd``: the pre-experience (one LoRA job) and tokenizing on the driver, the model passes
  in an actor pool (the model loaded once per actor, the local batch plan, the same score cache),
  the keep step on the driver (``models``); ``score.perplexity`` and ``score.uncertainty`` the
  same way (tokenizing and perturbing on the driver, the passes in the pool, the columns on the
  driver); ``score.judge`` with the local model: the rubric contexts on the driver, its one pass per
  row in the same pool; with an endpoint: all on the driver (I/O bound, ``endpoint.concurrency``);
* ``tag.intent``, ``mix.into_pretraining``: their row-local part (regex tagging; rendering and
  measuring) per block, the decision on the driver with the stage's own code (``rowwise``);
* every other global stage (``convert``, ``score.join``) has no distributed form yet: it runs
  the local implementation on the driver, which holds the table.

The runner still hands every stage one in-memory table, so the driver holds the data; what Ray
spreads is the work. Output is identical to the local executor (tests/pipeline/test_ray.py).
"""

from __future__ import annotations

import polars as pl

from curate.pipeline.executors.local import LocalExecutor
from curate.pipeline.executors.ray.clusters import apply_clusters
from curate.pipeline.executors.ray.dedup_exact import apply_exact
from curate.pipeline.executors.ray.dedup_minhash import apply_minhash
from curate.pipeline.executors.ray.diverse import apply_diverse
from curate.pipeline.executors.ray.models import apply_ifd, apply_judge, apply_scores
from curate.pipeline.executors.ray.planned import apply_planned, plans
from curate.pipeline.executors.ray.rows import apply_rows, for_worker
from curate.pipeline.executors.ray.rowwise import apply_rowwise
from curate.pipeline.executors.ray.semantic import apply_semantic
from curate.pipeline.executors.ray.session import cluster_cpus, configure, connect
from curate.pipeline.executors.ray.split import apply_split
from curate.pipeline.stage import Stage, StageResult
from curate.pipeline.stats import plain

BLOCK_ROWS = 20_000  # rows per block: small enough that every CPU gets work, large enough per task
DISTRIBUTED = {
    "dedup.exact": apply_exact,
    "dedup.minhash": apply_minhash,
    "dedup.semantic": apply_semantic,
    "tag.clusters": apply_clusters,
    "select.diverse": apply_diverse,
    "split": apply_split,
    "select.ifd": apply_ifd,
    "score.perplexity": apply_scores,
    "score.uncertainty": apply_scores,
    "score.judge": apply_judge,
    "tag.intent": apply_rowwise,
    "mix.into_pretraining": apply_rowwise,
}


class RayExecutor:
    """Runs row stages, dedup, clustering, selection and model scores (their model passes in an
    actor pool), tagging, mixing, caps and splits on Ray; other global stages locally (module doc).

    ``address``: a running cluster (``ray start --head`` prints it); None uses ``RAY_ADDRESS`` or
    starts a local instance. A ``ray.init`` made before the first stage (tests, notebooks) is kept.
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, block_rows: int = BLOCK_ROWS) -> None:
        self.address = address
        self.block_rows = block_rows

    def apply(self, stage: Stage, table: pl.DataFrame) -> StageResult:
        dist = DISTRIBUTED.get(stage.name) if stage.scope == "global" else None
        if dist is apply_judge and stage.cfg.endpoint is not None:  # type: ignore[attr-defined]
            dist = None  # HTTP requests: I/O bound, already concurrent; no Ray start for them
        if dist is None and stage.scope == "global" and plans(stage):
            dist = apply_planned
        if (stage.scope == "global" and dist is None) or table.height == 0:
            return LocalExecutor().apply(stage, table)
        connect(self.address)
        configure()
        cpus = cluster_cpus()
        blocks = max(cpus, -(-table.height // self.block_rows))
        if dist is None:
            return apply_rows(stage, table, blocks=blocks, actors=cpus)
        # a planned stage decides on the driver with all its threads; its blocks need none
        worker = stage if dist is apply_planned else for_worker(stage)
        res = dist(worker, table, blocks=blocks, parts=max(2, cpus))
        res.stats = plain(res.stats)
        return res
