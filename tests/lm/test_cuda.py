"""The scorer on CUDA (bf16, its default there): the same IFD numbers as the fp32 CPU reference
within bf16's rounding, the same order of rows, and the score cache kept apart from CPU scores.
Skipped without a GPU; run on one: ``pytest tests/lm/test_cuda.py -p no:cacheprovider``."""

from __future__ import annotations

import copy

import numpy as np
import polars as pl
import pytest
import torch

from curate.models import ModelHub
from curate.pipeline.stage import StageContext
from curate.stages.select.ifd import SelectIFD
from tests.lm.ifd_reference import reference_scores
from tests.stages.mix.mixing_samples import chitchat_frame, law_frame

HAS_CUDA = torch.cuda.is_available()  # read at import, before the CPU-only fixture patches it


def cuda(fn):
    """A test that needs the GPU: skipped without one, and sees it (``gpu``) when there is one."""
    return pytest.mark.gpu(pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")(fn))


def _trained_tiny(tiny_lm):
    """The tiny model, a few steps into fitting real text, so NLLs differ between rows (a random
    model's IFD is ~1 everywhere and its order is noise)."""
    model, tok = tiny_lm
    model = copy.deepcopy(model).train()
    text = "\n".join(law_frame()["messages"].list.last().struct.field("content").to_list())
    flat = tok(text)["input_ids"]
    ids = torch.tensor(flat[: len(flat) // 128 * 128]).view(-1, 128)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for step in range(30):
        batch = ids[(step * 8) % len(ids) :][:8]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    return model.eval(), tok


@cuda
def test_ifd_on_cuda_matches_the_fp32_cpu_reference(tiny_lm, tmp_path):
    model, tok = _trained_tiny(tiny_lm)
    rows = pl.concat(
        [law_frame().group_by("task", maintain_order=True).head(1), chitchat_frame().head(4)],
        how="diagonal_relaxed",
    )
    cfg = {"model": "tiny", "max": None, "max_answer_tokens": 64, "max_tokens": 256}
    gpu = copy.deepcopy(model)  # the scorer moves its model to the GPU in place
    hub = ModelHub(preloaded={"tiny": (gpu, tok)})
    res = SelectIFD(cfg, ctx=StageContext(models=hub, cache_dir=tmp_path)).apply(rows)
    assert next(gpu.parameters()).device.type == "cuda"
    assert next(gpu.parameters()).dtype == torch.bfloat16
    got = res.kept.sort("id")
    ref = [reference_scores(model, tok, r, max_answer=64, max_total=256) for r in got.iter_rows(named=True)]
    nll = np.array([r[1] for r in ref])
    ifd = np.array([r[0] for r in ref])
    assert np.allclose(got["score_ifd_nll"].to_numpy(), nll, rtol=2e-2)
    assert np.allclose(got["score_ifd"].to_numpy(), ifd, rtol=3e-2)
    from scipy.stats import spearmanr

    assert spearmanr(got["score_ifd_nll"].to_numpy(), nll).statistic > 0.95
    # CPU scores of the same model live under another key: nothing computed on CUDA is reused on CPU
    cpu = ModelHub(preloaded={"tiny": (copy.deepcopy(model), tok)})
    again = SelectIFD({**cfg, "quantize": None}, ctx=StageContext(models=cpu, cache_dir=tmp_path))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(torch.cuda, "is_available", lambda: False)
        back = again.apply(rows)
    assert back.stats["passes_cached"] == 0 and back.stats["passes_computed"] == res.stats["passes_computed"]
