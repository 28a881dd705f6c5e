"""``curate score RUN_DIR [--adapter DIR]``: which training rows the trained adapter has not learned."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("score")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--adapter", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="LoRA adapter folder (default: the run's train/adapter).")
@click.option("--model", default=None, help="Base model (default: the one the run trained).")
@click.option("--max-rows", type=int, default=None, help="Score a seeded sample of this many rows.")
@click.option("--top", type=int, default=10, show_default=True, help="Rows with the highest loss to show.")
def score_cmd(run_dir: Path, adapter: Path | None, model: str | None, max_rows: int | None, top: int) -> None:
    """Score RUN_DIR's training rows under its adapter: remaining loss and IFD per row.

    Writes RUN_DIR/scores/adapter.parquet (id, score_adapter_loss, score_adapter_ifd); feed it back
    into the next run with `score.join: {path: RUN_DIR/scores/adapter.parquet}` and `select.top`.
    """
    import polars as pl

    from curate.rescore import score_run

    table, path = score_run(run_dir, adapter=adapter, model=model, max_rows=max_rows)
    loss = table["score_adapter_loss"].drop_nulls()
    click.echo(f"scored {loss.len()} of {table.height} rows: remaining loss mean {loss.mean():.4f}, "
               f"median {loss.median():.4f} -> {path}")  # fmt: skip
    user = pl.col("messages").list.eval(pl.element().filter(pl.element().struct.field("role") == "user"))
    hard = table.sort("score_adapter_loss", descending=True, nulls_last=True).head(top)
    hard = hard.with_columns(prompt=user.list.last().struct.field("content").str.slice(0, 50))
    for r in hard.iter_rows(named=True):
        prompt = (r["prompt"] or "").replace("\n", " ")
        click.echo(f"  {r['score_adapter_loss']:.4f}  {r['id'][:12]}  {r.get('task') or '':<12}  {prompt}")
