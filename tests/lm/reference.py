"""The reference the core is checked against: one row at a time, full logits, plain transformers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def reference_nll(model: Any, context: Sequence[int], answer: Sequence[int]) -> tuple[float, int]:
    """Summed NLL of ``answer`` after ``context`` and the number of tokens scored, the plain way."""
    import torch

    seq = [*context, *answer]
    first = max(len(context), 1)
    if len(seq) < 2 or first >= len(seq):
        return 0.0, 0
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([seq])).logits[0].double()
    logp = torch.log_softmax(logits[first - 1 : -1], dim=-1)
    nll = -float(logp.gather(1, torch.tensor(seq[first:])[:, None]).sum())
    return nll, len(seq) - first
