"""Click commands: ``curate train``, ``curate estimate``, ``curate merge``, ``curate export-llamafactory``.

Loaded lazily by ``curate.cli`` so other commands never import torch. Library code raises
CurateError; ``curate.cli.main`` renders it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import polars as pl
from pydantic import ValidationError

from curate.errors import InputError, RecipeError
from curate.train.config import TrainConfig

_OVERRIDES = ("model", "method", "max_steps", "epochs", "lr", "max_len", "batch_size", "seed")


def load_config(path: Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """TrainConfig from a YAML file (its top level, or a recipe's ``train:`` block) plus CLI overrides.

    Read like a recipe (``curate.recipe``): safe YAML only, so a ``!!python`` tag is a one-line
    RecipeError with its line, and an unknown key gets the same "did you mean" as recipe keys.
    """
    from curate.recipe import _load_yaml, _raise_validation, _unknown

    data: dict[str, Any] = {}
    base: tuple[str, ...] = ()
    lines = None
    file = str(path) if path else "<options>"
    if path is not None:
        if not path.exists():
            raise RecipeError("config file not found", file=file)
        raw, lines = _load_yaml(path.read_text(encoding="utf-8"), file)
        raw = raw or {}
        if not isinstance(raw, dict):
            raise RecipeError("a train config is a mapping of options", file=file, line=1)
        if "sources" in raw or "train" in raw:
            data, base = raw.get("train") or {}, ("train",)
        else:
            data = raw
        if not isinstance(data, dict):
            raise RecipeError("train: is a mapping of options", file=file, line=lines.line(base), key="train")
        if "seed" not in data and isinstance(raw.get("seed"), int):
            data = {**data, "seed": raw["seed"]}
    data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return TrainConfig(**data)
    except ValidationError as err:
        if lines is not None:
            _raise_validation(err, lines, file, base, TrainConfig)
        e = err.errors()[0]
        key = ".".join(str(p) for p in e["loc"]) or "train"
        if e["type"] == "extra_forbidden":
            raise _unknown("option", str(e["loc"][-1]), list(TrainConfig.model_fields), file=file, line=None,
                           key=key) from None
        raise RecipeError(e["msg"], file=file, key=key) from None


def load_dataset(
    path: Path, *, fmt: str = "auto"
) -> tuple[pl.DataFrame, pl.DataFrame | None, dict[str, Any] | None]:
    """(train rows, eval rows or None, run manifest or None) from a run directory or a data file."""
    from curate.pipeline.rundir import RunDir
    from curate.schema import conform

    if RunDir.is_run(path):
        manifest = RunDir.read_manifest(path)  # refuses a run that is running or was killed
        out = path / "output"
        tr = out / "train.canonical.parquet"
        if not tr.exists():
            raise InputError(
                f"run directory {path} has no output/train.canonical.parquet",
                hint=f"run the recipe first: curate run <recipe> --out {path}",
            )
        ev = out / "eval.canonical.parquet"
        return pl.read_parquet(tr), pl.read_parquet(ev) if ev.exists() else None, manifest
    from curate.formats import load_with_rejects

    res = load_with_rejects(path, format=fmt)
    if res.rejects.height:
        click.echo(f"note: {res.rejects.height:,} malformed records in {path} were skipped", err=True)
    return conform(res.table), None, None


@click.command()
@click.argument("dataset", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML with train options (or a recipe with a train: block).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: <run>/train for a run directory, else runs/train-<name>).",
)
@click.option(
    "--eval",
    "eval_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Held-out rows (default: a seeded eval_fraction of DATASET).",
)
@click.option("--format", "fmt", default="auto", show_default=True, help="DATASET format when it is a file.")
@click.option(
    "--preview", is_flag=True, help="Print one rendered example with trained tokens highlighted; no training."
)
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in the output folder.")
@click.option("--model", default=None, help="Override: model name or path.")
@click.option("--method", default=None, help="Override: lora, qlora, full, freeze, prompt_tuning, ...")
@click.option("--max-steps", type=int, default=None, help="Override: stop after N steps.")
@click.option("--epochs", type=float, default=None, help="Override: epochs.")
@click.option("--lr", type=float, default=None, help="Override: peak learning rate.")
@click.option("--max-len", type=int, default=None, help="Override: max tokens per example.")
@click.option("--batch-size", type=int, default=None, help="Override: examples per step.")
@click.option("--seed", type=int, default=None, help="Override: seed.")
def train(
    dataset: Path,
    config_path: Path | None,
    out: Path | None,
    eval_path: Path | None,
    fmt: str,
    preview: bool,
    resume: bool,
    **overrides: Any,
) -> None:
    """Train on DATASET (a run directory or a data file) with LoRA/full/... as the config says."""
    cfg = load_config(config_path, {k: overrides.get(k) for k in _OVERRIDES})
    train_df, eval_df, manifest = load_dataset(dataset, fmt=fmt)
    if eval_path is not None:
        eval_df = load_dataset(eval_path, fmt=fmt)[0]
    if preview:
        from rich.console import Console

        from curate.models import load_tokenizer
        from curate.train.evaluate import preview as render

        con = Console()
        con.print(
            render(
                train_df,
                load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code),
                max_len=cfg.max_len,
                last_turn_only=cfg.last_turn_only,
                markers=not con.is_terminal,
            )
        )
        return
    from curate.train import run_training

    if out is None:
        out = dataset / "train" if manifest else Path("runs") / f"train-{dataset.stem}"
    s = run_training(train_df, eval_df, cfg, out, manifest=manifest, resume=resume)
    click.echo(
        f"trained {s['steps']} steps on {s['train_examples']:,} examples "
        f"({s['tokens_per_s']:,.0f} tokens/s, peak RSS {s['peak_rss_mb']:,.0f} MB)"
    )
    click.echo(f"eval loss {s['base_eval_loss']} (base) -> {s['final_eval_loss']}")
    if s["dropped"]:
        click.echo(f"dropped rows: {s['dropped']} (see {out / 'dropped.jsonl'})")
    click.echo(f"saved: {s.get('adapter_dir') or s.get('model_dir')}; metrics: {s['metrics_file']}")


@click.command()
@click.option("--model", default="smollm2-135m", show_default=True, help="Model name or path.")
@click.option("--method", type=click.Choice(["full", "lora", "qlora"]), default="lora", show_default=True)
@click.option("--seq-len", type=int, default=512, show_default=True, help="Tokens per example.")
@click.option("--batch", type=int, default=8, show_default=True, help="Examples per forward pass.")
@click.option("--rank", type=int, default=8, show_default=True, help="LoRA rank.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True)
@click.option("--gradient-checkpointing", is_flag=True, help="Estimate with activation checkpointing.")
@click.option(
    "--micro-batch-tokens",
    type=int,
    default=512,
    show_default=True,
    help="Tokens per forward pass (curate's gradient accumulation); 0 = the whole batch at once.",
)
@click.option("--rows", type=int, default=None, help="Training examples, for the advice.")
@click.option(
    "--dataset",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Count rows from this run directory or data file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def estimate(
    model: str,
    method: str,
    seq_len: int,
    batch: int,
    rank: int,
    precision: str,
    gradient_checkpointing: bool,
    micro_batch_tokens: int,
    rows: int | None,
    dataset: Path | None,
    as_json: bool,
) -> None:
    """Memory estimate (weights, grads, optimizer, activations) and advice, without loading weights."""
    from curate.train.estimate import advice, estimate_memory, model_shape

    if dataset is not None and rows is None:
        rows = load_dataset(dataset)[0].height
    shape = model_shape(model)
    mem = estimate_memory(
        shape,
        method=method,
        seq_len=seq_len,
        batch=batch,
        rank=rank,
        precision=precision,
        gradient_checkpointing=gradient_checkpointing,
        micro_batch_tokens=micro_batch_tokens,
    )
    tips = advice(rows=rows, method=method, params=shape["params"])
    if as_json:
        click.echo(json.dumps({"model": model, "method": method, "memory_gb": mem, "advice": tips}, indent=2))
        return
    click.echo(
        f"{model}: {shape['params'] / 1e6:,.1f}M parameters, {mem['trainable_params'] / 1e6:,.2f}M trainable "
        f"({method}), {batch} x {seq_len} tokens, {precision}"
    )
    for k in ("weights", "gradients", "optimizer", "activations", "logits", "total"):
        click.echo(f"  {k:<12} {mem[k]:>8.2f} GB")
    click.echo(
        f"  (a trainer that materialises full logits needs {mem['logits_full_vocab_trainer']:.2f} GB "
        f"for them; "
        f"weights+grads+optimizer = {mem['gb_per_billion_params']} GB per billion parameters)"
    )
    for t in tips:
        click.echo(f"- {t}")


@click.command()
@click.argument("adapter", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the merged model (default: <adapter>/../merged).",
)
@click.option("--base", default=None, help="Base model (default: the one the adapter was trained on).")
@click.option(
    "--tolerance",
    type=float,
    default=1e-3,
    show_default=True,
    help="Max |logit| difference between merged and base+adapter.",
)
def merge(adapter: Path, out: Path | None, base: str | None, tolerance: float) -> None:
    """Merge a LoRA ADAPTER into its base model and check the result's logits."""
    from curate.train.export import merge as do_merge

    info = do_merge(adapter, out or adapter.parent / "merged", base=base, tolerance=tolerance)
    click.echo(
        f"merged -> {info['model_dir']} (max logit difference {info['max_logit_diff']:.2e} <= {tolerance:g})"
    )


@click.command("export-llamafactory")
@click.argument("dataset", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--name", default="curate", show_default=True, help="Dataset name in dataset_info.json.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Train config: also write train_lora.yaml with the same hyperparameters.",
)
@click.option(
    "--template", default=None, help="LLaMA-Factory template name for train_lora.yaml (default chatml)."
)
@click.option("--format", "fmt", default="auto", show_default=True, help="DATASET format when it is a file.")
def export_llamafactory(
    dataset: Path, out: Path, name: str, config_path: Path | None, template: str | None, fmt: str
) -> None:
    """Write DATASET as LLaMA-Factory data (dataset_info.json + files), so it trains there unchanged.

    DATASET is a data file or a run directory; a run's leak-free eval split becomes a second
    dataset (<name>_eval) that train_lora.yaml names as eval_dataset.
    """
    from curate.train.llamafactory import export_llamafactory as export

    df, eval_df, _ = load_dataset(dataset, fmt=fmt)
    cfg = load_config(config_path, {}) if config_path else None
    res = export(df, out, name=name, cfg=cfg, template=template, eval_df=eval_df)
    click.echo(
        f"wrote {res['datasets']} to {res['dir']}"
        + (f"; LLaMA-Factory args: {res['train_yaml']}" if res.get("train_yaml") else "")
    )
