"""``curate eval RUN_DIR``: score a trained run (multiple choice, eval loss per domain, answers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


@click.command("eval")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--max-mcq-items", type=int, default=None, help="Override: MCQ items scored per set.")
@click.option("--max-open-ended", type=int, default=None, help="Override: prompts the adapter answers.")
@click.option("--max-new-tokens", type=int, default=None, help="Override: tokens per generated answer.")
@click.option("--score", type=click.Choice(["mean", "sum"]), default=None, help="Override: option score.")
def eval_cmd(run_dir: Path, **overrides: Any) -> None:
    """Evaluate RUN_DIR's adapter beside its base model: MCQ accuracy, eval loss per domain, answers."""
    import json

    from curate.recipe import EvalSpec
    from curate.train.assess import evaluate_run

    mpath = run_dir / "manifest.json"
    recipe = json.loads(mpath.read_text(encoding="utf-8")).get("recipe", {}) if mpath.exists() else {}
    spec = EvalSpec(**{**(recipe.get("eval") or {}), **{k: v for k, v in overrides.items() if v is not None}})
    res = evaluate_run(run_dir, spec=spec)
    for name, m in res["mcq"].items():
        click.echo(
            f"mcq {name}: {m['items']} items, accuracy {m['base_accuracy']:.3f} (base) -> "
            f"{m['adapter_accuracy']:.3f} (adapter), chance {m['chance']:.3f}"
        )
    for d, m in res["eval_loss_by_domain"].items():
        click.echo(f"eval loss {d}: {m['base']:.4f} (base) -> {m['adapter']:.4f} ({m['examples']} examples)")
    if res["open_ended"]:
        o = res["open_ended"]
        click.echo(
            f"answers: {o['answered']} of {o['of']} open-ended prompts "
            f"-> {run_dir / 'eval' / 'open_ended.html'}"
        )
    click.echo(f"results: {run_dir / 'eval' / 'results.json'} ({res['seconds']:.1f}s)")
