"""curate's trainer on the benchmark spec (runs in the project's .venv).

The chat file becomes canonical rows (system prompt in ``system``, turns in ``messages``) and goes
through ``curate.train.run_training``. Settings the spec fixes are set; the schedule is aligned with
the peers (warmup 0, cosine to 0, no weight decay, as Hugging Face's defaults); everything else is
curate's default (no gradient checkpointing, length-grouped padded steps split into micro-batches of
at most ``micro_batch_tokens``). curate times the step loop itself (after model load, tokenization
and the base-model eval) and counts the non-pad tokens of every micro-batch it runs.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from itertools import pairwise
from pathlib import Path

T_START = time.perf_counter()

from curate.schema import chat_row, frame  # noqa: E402
from curate.train import run_training, trainer  # noqa: E402
from curate.train.config import TrainConfig  # noqa: E402

CPU: dict[str, float] = {}


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def mark_cpu() -> None:
    """CPU clock at the step loop's bounds: the first lr_at call opens it, the final eval_loss closes it."""
    lr_at, eval_loss = trainer.lr_at, trainer.eval_loss

    def lr_at_marked(*a: object, **k: object) -> float:
        CPU.setdefault("start", cpu_s())
        return lr_at(*a, **k)

    def eval_loss_marked(*a: object, **k: object) -> float:
        CPU["end"] = cpu_s()
        return eval_loss(*a, **k)

    trainer.lr_at, trainer.eval_loss = lr_at_marked, eval_loss_marked


def rows(path: str, *, start: int, stop: int | None) -> list[dict]:
    """Canonical chat rows for records ``start:stop`` of the benchmark file."""
    out = []
    for k, r in enumerate(json.loads(Path(path).read_text(encoding="utf-8"))[start:stop], start):
        msgs = r["messages"]
        system = msgs[0]["content"] if msgs[0]["role"] == "system" else None
        turns = msgs[1:] if system is not None else msgs
        out.append(chat_row(turns, system=system, source="bench", origin=f"{path}:{k}"))
    return out


def main(spec_path: str, out_path: str) -> None:
    s = json.loads(Path(spec_path).read_text())
    n_train = s["steps"] * s["batch_size"]  # the rows the peers read in order: same examples, own order
    train_df = frame(rows(s["data"], start=0, stop=n_train))
    eval_df = frame(rows(s["data"], start=n_train, stop=n_train + 8))
    sets = s.get("curate_overrides") or {}
    base = dict(
        model=s["model_dir"],
        method="lora",
        rank=s["rank"],
        alpha=s["alpha"],
        dropout=0.0,
        target_modules="all-linear",
        max_len=s["max_len"],
        packing=s["packing"],
        max_steps=s["steps"],
        batch_size=s["batch_size"],
        lr=s["lr"],
        lr_min_ratio=0.0,
        warmup_ratio=0.0,
        weight_decay=0.0,
        precision="fp32",
        device="cpu",
        seed=s["seed"],
        threads=s["threads"],
        save_steps=None,
        sample_count=0,
        tensorboard=False,
    )
    cfg = TrainConfig(**{**base, **sets})
    out_dir = Path(s["work_dir"]) / "-".join(["curate", *(f"{k}{v}" for k, v in sets.items())])
    mark_cpu()
    summary = run_training(train_df, eval_df, cfg, out_dir, progress=False)
    lines = [json.loads(x) for x in Path(summary["metrics_file"]).read_text().splitlines() if x.strip()]
    losses = [m["loss"] for m in lines if "loss" in m and not m.get("skipped")]
    done = [(0, 0.0)] + [(m["tokens"], m["elapsed_s"]) for m in lines if "tokens" in m]
    import transformers

    import curate

    result = {
        "tool": "curate",
        "steps": summary["steps"],
        "setup_s": time.perf_counter() - T_START - summary["train_seconds"],
        "train_s": summary["train_seconds"],
        "cpu_s": CPU["end"] - CPU["start"] if {"start", "end"} <= CPU.keys() else None,
        "losses": losses,
        "step_s": [b[1] - a[1] for a, b in pairwise(done)],
        "step_tokens": [b[0] - a[0] for a, b in pairwise(done)],
        "param_dtypes": [summary["precision"]],
        "gradient_checkpointing": cfg.gradient_checkpointing,
        "micro_batch_tokens": cfg.micro_batch_tokens,
        "group_by_length": cfg.group_by_length,
        "tokens_nonpad": summary["tokens_seen"],
        "skipped_steps": summary["skipped_steps"],
        "final_eval_loss": summary["final_eval_loss"],
        "attention": summary["attention"],
        "version": f"curate {getattr(curate, '__version__', '?')}, transformers {transformers.__version__}",
    }
    Path(out_path).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
