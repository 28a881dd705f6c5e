"""Checkpoints for ``--resume``: trainable weights, optimizer, loss scale, guard, RNG and step.

Only what training changes is saved (a LoRA checkpoint of SmolLM2 is a few MB), plus, with PLoRA,
the base weights the adapter was folded into. The step plan is a pure function of the seed, so
restoring these and skipping to the saved step continues the run exactly where it stopped.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)


def save(
    folder: Path,
    *,
    step: int,
    model: Any,
    optimizer: torch.optim.Optimizer,
    extra: dict[str, Any],
    keep: int,
    base_weights: bool = False,
) -> Path:
    """Write ``folder/step-NNNNNN/state.pt`` atomically and delete all but the newest ``keep``."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        "step": step,
        "params": {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad},
        "optimizer": optimizer.state_dict(),
        "rng": {
            "cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
        "extra": extra,
    }
    if base_weights:
        from curate.train.lora import lora_layers

        state["base"] = {
            i: layer.get_base_layer().weight.detach().cpu() for i, layer in enumerate(lora_layers(model))
        }
    final = folder / f"step-{step:06d}"
    tmp = folder / f".tmp-{step:06d}-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    torch.save(state, tmp / "state.pt")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old in sorted(folder.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest(folder: Path) -> Path | None:
    """The newest complete checkpoint under ``folder``, if any."""
    done = sorted(p for p in folder.glob("step-*") if (p / "state.pt").exists())
    return done[-1] if done else None


def restore(path: Path, *, model: Any, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Load a checkpoint into ``model`` and ``optimizer``; returns ``{"step", "extra"}``."""
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, t in state["params"].items():
            params[name].copy_(t.to(params[name].device))
        if "base" in state:
            from curate.train.lora import lora_layers

            for i, layer in enumerate(lora_layers(model)):
                w = layer.get_base_layer().weight
                w.copy_(state["base"][i].to(w.device))
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"]["cpu"])
    if state["rng"]["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    log.info("resumed from %s (step %d)", path, state["step"])
    return {"step": state["step"], "extra": state["extra"]}
