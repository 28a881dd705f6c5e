"""Steps, micro-batches and tensors: which examples go where, without padding waste.

A *step* is ``batch_size`` examples (one optimizer update). Its examples are split into as few
*micro-batches* as fit ``micro_batch_tokens`` (gradient accumulation). With packing a micro-batch
is one row of examples laid end to end: ``position_ids`` restart at every example and attention
is confined to it (per-example varlen attention, or one block-diagonal mask), so an example's
logits are the same packed or alone. Without packing a micro-batch is padded to its longest row,
and steps are grouped by length so that padding stays small.

Loss is computed only where a target exists: ``pred_index`` lists the flattened positions whose
next token is trained and ``targets`` those next tokens, so the lm head runs on those rows only.
The plan is a pure function of (lengths, seed, options), which is what makes resume exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.errors import TrainError


@dataclass
class Batch:
    """One forward pass worth of tensors (torch) plus the rows it came from."""

    input_ids: Any
    position_ids: Any
    attention_mask: Any | None
    pred_index: Any
    targets: Any
    cu_seqlens: Any | None
    max_seqlen: int
    row_ids: list[str]
    n_tokens: int  # real tokens, padding excluded

    @property
    def n_targets(self) -> int:
        return int(self.targets.numel())

    def to(self, device: Any) -> Batch:
        def move(t):
            return None if t is None else t.to(device, non_blocking=True)

        return Batch(
            move(self.input_ids),
            move(self.position_ids),
            move(self.attention_mask),
            move(self.pred_index),
            move(self.targets),
            move(self.cu_seqlens),
            self.max_seqlen,
            self.row_ids,
            self.n_tokens,
        )


def plan_steps(
    lengths: np.ndarray,
    *,
    batch_size: int,
    epochs: float,
    max_steps: int | None,
    seed: int,
    group_by_length: bool = False,
) -> list[np.ndarray]:
    """Example indices for every optimizer step: a seeded shuffle per epoch, no example left out.

    ``epochs`` may be fractional; ``max_steps`` cuts (or repeats epochs up to) a fixed count. The
    last short step of the run is kept rather than dropped.
    """
    n = len(lengths)
    if n == 0:
        raise TrainError("no training examples", hint="see the dropped-row counts in the training report")
    total = max_steps * batch_size if max_steps else math.ceil(n * epochs)
    order: list[np.ndarray] = []
    epoch = 0
    while sum(len(o) for o in order) < total:
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        if group_by_length:
            perm = _group_by_length(perm, lengths, batch_size, seed + epoch)
        order.append(perm)
        epoch += 1
    flat = np.concatenate(order)[:total]
    steps = [flat[i : i + batch_size] for i in range(0, total, batch_size)]
    return steps[:max_steps] if max_steps else steps


def _group_by_length(perm: np.ndarray, lengths: np.ndarray, batch_size: int, seed: int) -> np.ndarray:
    """Sort within windows of 64 steps by length, then shuffle whole steps: less padding, still random."""
    window = batch_size * 64
    out = []
    for i in range(0, len(perm), window):
        w = perm[i : i + window]
        out.append(w[np.argsort(-lengths[w], kind="stable")])
    grouped = np.concatenate(out)
    chunks = [grouped[i : i + batch_size] for i in range(0, len(grouped), batch_size)]
    rng = np.random.default_rng([seed, 1_000_003])
    return np.concatenate([chunks[j] for j in rng.permutation(len(chunks))])


def micro_batches(
    step: np.ndarray, lengths: np.ndarray, *, micro_batch_tokens: int, packing: bool
) -> list[list[int]]:
    """Split a step's examples into micro-batches of at most ``micro_batch_tokens`` tokens.

    Packing: first-fit decreasing on lengths. Padded: sorted by length, each micro-batch costs
    rows x its longest row. An example longer than the budget gets a micro-batch of its own.
    """
    idx = sorted(step.tolist(), key=lambda i: -int(lengths[i]))
    groups: list[list[int]] = []
    if packing:
        room: list[int] = []
        for i in idx:
            n = int(lengths[i])
            for g, free in enumerate(room):
                if n <= free:
                    groups[g].append(i)
                    room[g] -= n
                    break
            else:
                groups.append([i])
                room.append(micro_batch_tokens - n)
        return groups
    for i in idx:
        if groups and (len(groups[-1]) + 1) * int(lengths[groups[-1][0]]) <= micro_batch_tokens:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def collate(ds: Any, indices: list[int], *, packing: bool, pad_id: int, varlen: bool) -> Batch:
    """Tensors for one micro-batch; ``ds`` has ``ids(i)``, ``mask(i)`` and ``row_ids(i)``."""
    import torch

    ids = [ds.ids(i) for i in indices]
    masks = [ds.mask(i) for i in indices]
    rows = [r for i in indices for r in ds.row_ids(i)]
    lens = [len(x) for x in ids]
    preds, tgts = [], []
    if packing:
        flat = np.concatenate(ids).astype(np.int64)
        pos = np.concatenate([np.arange(n) for n in lens])
        offsets = np.concatenate([[0], np.cumsum(lens)])
        for off, m, x in zip(offsets[:-1], masks, ids, strict=False):
            t = np.flatnonzero(m[1:]) + 1  # target positions within the example (never its first token)
            preds.append(off + t - 1)
            tgts.append(x[t])
        cu = torch.from_numpy(offsets.astype(np.int32)) if varlen else None
        return Batch(
            torch.from_numpy(flat)[None],
            torch.from_numpy(pos)[None],
            None,
            torch.from_numpy(np.concatenate(preds)),
            torch.from_numpy(np.concatenate(tgts).astype(np.int64)),
            cu,
            max(lens),
            rows,
            int(sum(lens)),
        )
    width = max(lens)
    grid = np.full((len(ids), width), pad_id, dtype=np.int64)
    attn = np.zeros((len(ids), width), dtype=np.int64)
    for r, (x, m) in enumerate(zip(ids, masks, strict=False)):
        grid[r, : len(x)] = x
        attn[r, : len(x)] = 1
        t = np.flatnonzero(m[1:]) + 1
        preds.append(r * width + t - 1)
        tgts.append(x[t])
    pos = np.broadcast_to(np.arange(width), grid.shape).copy()
    return Batch(
        torch.from_numpy(grid),
        torch.from_numpy(pos),
        torch.from_numpy(attn),
        torch.from_numpy(np.concatenate(preds)),
        torch.from_numpy(np.concatenate(tgts).astype(np.int64)),
        None,
        width,
        rows,
        int(sum(lens)),
    )


def check_targets(steps: list[np.ndarray], n_targets: np.ndarray) -> None:
    """Refuse to train when some step would have no trained token (its loss would be 0/0)."""
    for k, s in enumerate(steps):
        if int(n_targets[s].sum()) == 0:
            raise TrainError(
                f"step {k} would have no trained token",
                hint="rows without assistant turns or masks that cover nothing; see --preview",
            )
