"""IFD scoring throughput on a CUDA GPU: SmolLM2-135M's architecture (random weights: the speed of a
forward pass does not depend on them) in bf16, the 136 LawBench rows of the test sample repeated
``--repeat`` times with the score cache off, through ``SelectIFD`` as a recipe runs it.

    python bench/score_gpu.py --repeat 8        # on a GPU machine; prints rows/s and tokens/s

Answers "what does a 1,000-row IFD pass cost on a GPU" beside the CPU figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import time

import polars as pl
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=8)
    ap.add_argument("--batch-tokens", type=int, nargs="+", default=[4096, 16384, 65536])
    ap.add_argument("--reference", action="store_true", help="also time a one-row full-logits loop")
    args = ap.parse_args()
    from transformers import LlamaForCausalLM

    from curate.models import ModelHub, load_config, load_tokenizer
    from curate.pipeline.stage import StageContext
    from curate.stages.select.ifd import SelectIFD
    from tests.stages.mix.mixing_samples import law_frame

    tok = load_tokenizer("smollm2-135m")
    torch.manual_seed(0)
    model = LlamaForCausalLM(load_config("smollm2-135m"))
    base = law_frame()
    rows = pl.concat(
        [base.with_columns(pl.col("id") + f"-{k}") for k in range(args.repeat)], how="vertical_relaxed"
    )
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    out: dict[str, object] = {"device": dev, "rows": rows.height}
    for bt in args.batch_tokens:
        hub = ModelHub(preloaded={"smollm2-135m": (model, tok)})
        stage = SelectIFD({"max": None, "batch_tokens": bt}, ctx=StageContext(models=hub, cache_dir=None))
        stage.apply(rows.head(32))  # warm-up: CUDA context, kernels
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        t0 = time.perf_counter()
        res = stage.apply(rows)
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        sec = time.perf_counter() - t0
        tokens = res.stats["forward_tokens"]
        out[f"batch_tokens={bt}"] = {
            "seconds": round(sec, 2),
            "rows_per_s": round(rows.height / sec, 1),
            "forward_tokens_per_s": round(tokens / sec),
            "estimated_seconds": res.stats["estimated_seconds"],
        }
        print(json.dumps(out), flush=True)
    if args.reference:
        out["one_row_loop"] = one_row_loop(model, tok, base)
        print(json.dumps(out), flush=True)


def one_row_loop(model, tok, rows: pl.DataFrame) -> dict[str, float]:
    """The straightforward way (Data-Juicer's ops score so, one sample per forward call): the same
    (context, answer) pairs, one row at a time, full logits, labels masked on the context."""
    import copy

    from curate.stages.select.ifd import SelectIFD

    pairs = SelectIFD({"max": None}).pairs(rows, tok)
    todo = [*pairs.cond, *pairs.alone]
    res = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        m = copy.deepcopy(model).to("cuda" if torch.cuda.is_available() else "cpu", dtype=dtype).eval()
        dev = next(m.parameters()).device
        with torch.inference_mode():
            for ctx, ans in todo[:8]:  # warm-up
                m(input_ids=torch.tensor([[*ctx, *ans]], device=dev))
            torch.cuda.synchronize() if dev.type == "cuda" else None
            t0 = time.perf_counter()
            for ctx, ans in todo:
                ids = torch.tensor([[*ctx, *ans]], device=dev)
                labels = ids.clone()
                labels[0, : len(ctx)] = -100
                float(m(input_ids=ids, labels=labels).loss)  # .item(): one sync per row, as a loop does
            sec = time.perf_counter() - t0
        res[f"{name}_rows_per_s"] = round(rows.height / sec, 1)
    return res


if __name__ == "__main__":
    main()
