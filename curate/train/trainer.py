"""The training loop, top to bottom: rows -> masked examples -> steps -> updates -> adapter.

1. Hold out eval rows (unless given), tokenize both with the chat template (cached on disk).
2. Plan every step up front from the seed (this is what makes ``--resume`` exact), refuse a plan
   with an empty step, measure the base model's eval loss, then wrap it for the method.
3. Each step: lr from the schedule, micro-batches whose summed token losses are divided by the
   step's trained-token count (so accumulation equals one big batch), the spike guard, clipping,
   the update; metrics, eval and checkpoints every N steps.
4. Final eval, adapter (or model) + tokenizer + card, samples, optional checked merge.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from pathlib import Path
from typing import Any

import polars as pl
import torch

from curate.errors import TrainError
from curate.train import checkpoint
from curate.train.batching import check_targets, collate, micro_batches, plan_steps
from curate.train.cache import tokenize, write_dropped
from curate.train.config import TrainConfig
from curate.train.dist import Dist, LossModule
from curate.train.evaluate import eval_loss, samples, split_eval
from curate.train.export import merge, save_trained
from curate.train.lora import load_base, param_groups, plora_merge, prepare, save_pissa_init, trainable_counts
from curate.train.loss import VARLEN, attention_impl, causal_parts
from curate.train.metrics import Metrics
from curate.train.optim import SpikeGuard, lr_at, runtime
from curate.train.record import write_plan

log = logging.getLogger(__name__)


def train(
    train_df: pl.DataFrame,
    eval_df: pl.DataFrame | None,
    cfg: TrainConfig,
    out_dir: Path,
    *,
    model: Any = None,
    tokenizer: Any = None,
    manifest: dict[str, Any] | None = None,
    resume: bool = False,
    progress: bool | None = None,
    dist: Dist | None = None,
) -> dict[str, Any]:
    """Train ``cfg.method`` on canonical rows; write everything under ``out_dir``; return the summary."""
    from curate.cache import cache_dir
    from curate.models import load_tokenizer

    t_start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    dist = dist or Dist.detect()  # one process unless started by `accelerate launch`
    rt = runtime(cfg)
    tokenizer = tokenizer or load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    # 1. rows -> examples
    if eval_df is None:
        train_df, eval_df = split_eval(
            train_df, fraction=cfg.eval_fraction, max_rows=cfg.eval_max_rows, seed=cfg.seed
        )
    elif eval_df.height > cfg.eval_max_rows:  # a recipe's split: eval a seeded sample, keep CPU eval cheap
        eval_df = eval_df.sample(n=cfg.eval_max_rows, seed=cfg.seed)
    cache = Path(cfg.cache_dir) if cfg.cache_dir else cache_dir("tokenized")
    tok_kw = {"max_len": cfg.max_len, "last_turn_only": cfg.last_turn_only, "cache_dir": cache}
    with dist.main_first():
        tr = tokenize(train_df, tokenizer, **tok_kw)
        ev = tokenize(eval_df, tokenizer, **tok_kw) if eval_df is not None and eval_df.height else None
    if dist.main:
        write_dropped(out_dir / "dropped.jsonl", {"train": tr, "eval": ev})
    if len(tr) == 0:
        raise TrainError(
            f"all {tr.stats['rows_in']} training rows were dropped: {tr.stats['dropped']}",
            hint=f"see {out_dir / 'dropped.jsonl'}; raise max_len or check the roles",
        )

    # 2. plan, base eval, trainable model, optimizer
    packing = cfg.packing and not cfg.is_prompt_learning
    steps = plan_steps(
        tr.lengths,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        seed=cfg.seed,
        group_by_length=cfg.group_by_length and not packing,
    )
    check_targets(steps, tr.n_targets)
    recorded = write_plan(out_dir, steps, tr) if dist.main else {}  # for `curate trace`
    if model is None:
        model = load_base(cfg, rt.device, rt.dtype if cfg.method == "qlora" else torch.float32)
    if getattr(model, "hf_quantizer", None) is None:  # a 4-bit model is placed at load and cannot move
        model.to(rt.device)
    attn = attention_impl(cfg.packing_attention, rt.device, packing=packing)
    causal_parts(model)[0].set_attn_implementation(attn)
    model.config.use_cache = False
    virtual = cfg.num_virtual_tokens if cfg.is_prompt_learning else 0
    mb_kw = {"packing": packing, "pad_id": pad_id, "varlen": attn in (VARLEN, "flash_attention_2")}
    ev_kw = {
        **mb_kw,
        "rt": rt,
        "micro_batch_tokens": cfg.micro_batch_tokens,
        "prompt_learning": cfg.is_prompt_learning,
        "virtual_tokens": virtual,
    }
    ckpt_dir, ck = out_dir / "checkpoints", None
    if resume:
        ck = checkpoint.latest(ckpt_dir)
        if ck is None:
            log.warning("--resume: no checkpoint under %s; starting from step 0", ckpt_dir)
    base_eval = None if ck or not dist.main else eval_loss(model, ev, **{**ev_kw, "prompt_learning": False})
    torch.manual_seed(cfg.seed)
    model = prepare(model, cfg)
    causal_parts(model)[0].set_attn_implementation(attn)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    pissa = cfg.method in ("lora", "qlora") and cfg.lora_init == "pissa"
    pissa_init = save_pissa_init(model, out_dir / "pissa_init") if pissa else None
    opt = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2))
    trainable = [p for g in opt.param_groups for p in g["params"]]
    loss_mod, opt = dist.wrap(
        LossModule(model, prompt_learning=cfg.is_prompt_learning, virtual_tokens=virtual), opt
    )
    guard = SpikeGuard(cfg.spike_factor, cfg.spike_window_steps, cfg.spike_warmup_steps, cfg.spike_max_skips)
    start = 0
    if ck is not None:
        restored = checkpoint.restore(ck, model=model, optimizer=opt)
        start, base_eval = restored["step"], restored["extra"]["base_eval_loss"]
        guard.load(restored["extra"]["guard"])
        if rt.scaler is not None and restored["extra"].get("scaler"):
            rt.scaler.load_state_dict(restored["extra"]["scaler"])
    metrics = Metrics(
        out_dir,
        tensorboard=cfg.tensorboard,
        total_steps=len(steps),
        start_step=start,
        progress=progress,
        enabled=dist.main,
    )
    if not start:
        metrics.log({"step": 0, "eval_loss": base_eval})

    # 3. the loop
    model.train()
    warmup = round(cfg.warmup_ratio * len(steps))
    tokens, t0, loss, stopped = 0, time.perf_counter(), float("nan"), None
    for step in range(start, len(steps)):
        lr = lr_at(step, total=len(steps), peak=cfg.lr, warmup=warmup, floor_ratio=cfg.lr_min_ratio)
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_scale"]
        n_targets = int(tr.n_targets[steps[step]].sum())
        mine, weight = dist.shard(steps[step])
        mbs = micro_batches(mine, tr.lengths, micro_batch_tokens=cfg.micro_batch_tokens, packing=packing)
        loss_sum = 0.0
        for k, mb in enumerate(mbs):
            b = collate(tr, mb, **mb_kw).to(rt.device)
            with dist.sync(loss_mod, last=k == len(mbs) - 1):
                with rt.autocast():
                    s = loss_mod(b)
                rt.backward(s * (weight * dist.world / n_targets))  # DDP averages over ranks: undo it
            loss_sum, tokens = loss_sum + weight * float(s.detach()), tokens + int(weight * b.n_tokens)
        loss = dist.total(loss_sum, rt.device) / n_targets
        if not guard.check(loss):  # spike or NaN: drop this step's gradient, keep its rows on record
            opt.zero_grad(set_to_none=True)
            rows = [r for i in steps[step] for r in tr.row_ids(int(i))]
            guard.skipped.append({"step": step + 1, "loss": loss, "row_ids": rows})
            metrics.log({"step": step + 1, "skipped": True, "loss": loss, "row_ids": rows})
            log.warning("step %d: loss %.4g skipped (spike guard); rows %s", step + 1, loss, rows[:8])
            if guard.exhausted:
                stopped = f"{len(guard.skipped)} steps skipped by the loss-spike guard"
                break
            continue
        rt.unscale(opt)
        gnorm = dist.clip(trainable, cfg.max_grad_norm)
        rt.step(opt)
        opt.zero_grad(set_to_none=True)
        done = step + 1
        if cfg.plora_merge_steps and done % cfg.plora_merge_steps == 0 and done < len(steps):
            plora_merge(model, opt)
        tps = tokens / max(time.perf_counter() - t0, 1e-9)
        metrics.bar.advance(loss=loss, lr=lr, tokens_per_s=tps)
        if done % cfg.log_steps == 0:
            metrics.log(
                {
                    "step": done,
                    "loss": round(loss, 6),
                    "lr": lr,
                    "grad_norm": round(gnorm, 6),
                    "tokens": tokens,
                    "tokens_per_s": round(tps, 1),
                    "elapsed_s": round(time.perf_counter() - t0, 3),
                }
            )
        if cfg.eval_steps and done % cfg.eval_steps == 0 and done < len(steps) and dist.main:
            metrics.log({"step": done, "eval_loss": eval_loss(model, ev, **ev_kw)})
        if cfg.save_steps and done % cfg.save_steps == 0 and dist.main:
            checkpoint.save(
                ckpt_dir,
                step=done,
                model=model,
                optimizer=opt,
                keep=cfg.save_total_limit,
                base_weights=bool(cfg.plora_merge_steps),
                extra={
                    "base_eval_loss": base_eval,
                    "guard": guard.state(),
                    "scaler": rt.scaler.state_dict() if rt.scaler is not None else None,
                },
            )
    train_s = time.perf_counter() - t0
    # the final eval goes into metrics.jsonl too, so the report's curve has its last eval point
    final_eval = eval_loss(model, ev, **ev_kw) if dist.main and not stopped else None
    if final_eval is not None:
        metrics.log({"step": len(steps), "eval_loss": final_eval})
    metrics.close()
    if stopped:
        raise TrainError(
            f"training stopped: {stopped}", hint=f"the skipped rows are listed in {metrics.path}"
        )
    if not dist.main:
        dist.barrier()
        return {"rank": dist.rank, "steps": len(steps), "tokens_seen": tokens}

    # 4. outputs
    summary: dict[str, Any] = {
        "method": cfg.method,
        "model": cfg.model,
        "steps": len(steps),
        "resumed_from_step": start or None,
        "train_rows": tr.stats["rows_in"],
        "train_examples": len(tr),
        "eval_rows": ev.stats["rows_in"] if ev else 0,
        "eval_examples": len(ev) if ev else 0,
        **{k: tr.stats[k] for k in ("dropped", "truncated_rows", "text_blocks", "target_tokens")},
        "eval_dropped": ev.stats["dropped"] if ev else {},
        "base_eval_loss": _round(base_eval),
        "final_eval_loss": _round(final_eval),
        "last_train_loss": _round(loss),
        "skipped_steps": len(guard.skipped),
        "tokens_seen": tokens,
        "train_seconds": round(train_s, 2),
        "tokens_per_s": round(tokens / max(train_s, 1e-9), 1),
        "peak_rss_mb": _peak_rss_mb(),
        "device": str(rt.device),
        "threads": torch.get_num_threads(),
        "precision": str(rt.dtype).replace("torch.", ""),
        "attention": attn,
        **trainable_counts(model),
        "metrics_file": str(metrics.path),
        # where the token ids and loss masks are (the tokenized cache), and which steps used which
        "tokenized_train": str(tr.path),
        "tokenized_eval": str(ev.path) if ev else None,
        **recorded,
    }
    summary.update(
        save_trained(
            model, tokenizer, out_dir, cfg, summary=summary, manifest=manifest, pissa_init=pissa_init
        )
    )
    with torch.no_grad():
        s_path = samples(
            model,
            tokenizer,
            eval_df,
            count=cfg.sample_count,
            max_new_tokens=cfg.sample_max_new_tokens,
            device=rt.device,
            path=out_dir / "samples.jsonl",
        )
    summary["samples_file"] = str(s_path) if s_path else None
    if cfg.merge and "adapter_dir" in summary and not cfg.is_prompt_learning:
        summary["merge"] = merge(
            Path(summary["adapter_dir"]), out_dir / "merged", base=cfg.model, tolerance=cfg.merge_tolerance
        )
    summary["seconds"] = round(time.perf_counter() - t_start, 2)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    dist.barrier()
    return summary


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
