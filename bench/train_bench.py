"""Training speed side by side: curate vs TRL SFTTrainer vs LLaMA-Factory, same data and settings.

Each tool trains a LoRA adapter (r=8, alpha=16, every linear projection) on SmolLM2-135M-Instruct in
fp32 on the CPU, from one converted safetensors folder and one chat file, with loss on assistant
tokens only, lr 2e-4 cosine without warmup, seed 42, effective batch 8, max_len 512, 2 torch threads.
Each runs as its own subprocess (its own venv for the peers); this script polls the RSS of the
process tree (children included), and each runner reports the time of the step loop alone (model
load and tokenization excluded), the non-pad tokens of the batches it consumed, and per-step losses.

    bash bench/run_train.sh                      # all three, full settings (30 steps)
    python bench/train_bench.py --steps 4        # quick check
    python bench/train_bench.py --tools curate   # re-measure one tool; the table reuses the others

Results land in bench/results/train/<settings>/<tool>.json (with the time measured and the load
average, since the machine may be shared) and the table in results.md beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TOOLS = ("curate", "trl", "llamafactory")
PYTHON = {
    "curate": Path(sys.executable),
    "trl": BENCH / ".venvs" / "trl" / "bin" / "python",
    "llamafactory": BENCH / ".venvs" / "llamafactory" / "bin" / "python",
}
RUNNER = {t: BENCH / "train" / f"run_{t}.py" for t in TOOLS}
TAIL_STEPS = 5


def model_dir() -> Path:
    """The converted safetensors folder all three load (converted once from the GGUF)."""
    from curate.cache import cache_dir

    d = cache_dir("models") / "smollm2-135m"
    if not (d / "config.json").exists():
        code = "from curate.models import load_causal_lm; load_causal_lm('smollm2-135m')"
        subprocess.run([sys.executable, "-c", code], check=True)
    return d


def data_file(a: argparse.Namespace, model: Path) -> Path:
    """The shared chat file, built once per (rows, max_len, seed)."""
    path = BENCH / ".data" / "train" / f"chat-r{a.rows}-l{a.max_len}-s{a.seed}.json"
    if not path.exists():
        cmd = [
            sys.executable,
            str(BENCH / "train" / "make_data.py"),
            "--model-dir",
            str(model),
            "--out",
            str(path),
            "--rows",
            str(a.rows),
            "--max-len",
            str(a.max_len),
            "--seed",
            str(a.seed),
        ]
        print("building", path.name, flush=True)
        subprocess.run(cmd, check=True)
    return path


def run_tool(tool: str, spec_path: Path, out_dir: Path, threads: int, label: str) -> dict[str, Any]:
    """Run one tool's runner; poll the tree's summed RSS every 0.1 s; return its result plus memory."""
    py = PYTHON[tool]
    if not py.exists():
        raise SystemExit(f"{py} missing: run `bash bench/train_setup.sh`")
    res_path, log_path = out_dir / f"{label}.json", out_dir / f"{label}.log"
    tmp = res_path.with_suffix(".partial.json")
    tmp.unlink(missing_ok=True)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "DISABLE_VERSION_CHECK": "1",
    }
    started, load0 = time.strftime("%Y-%m-%d %H:%M %Z"), os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(py), str(RUNNER[tool]), str(spec_path), str(tmp)],
            cwd=RUNNER[tool].parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        peak, ps = 0, psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                procs = [ps, *ps.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not tmp.exists():
        raise SystemExit(f"{tool} failed (exit {proc.returncode}); see {log_path}")
    r = json.loads(tmp.read_text())
    tmp.unlink()
    r.update(
        tool=label,
        peak_rss_mb=round(peak / 2**20, 1),
        wall_s=round(wall, 1),
        measured_at=started,
        loadavg_1m=[round(load0, 2), round(os.getloadavg()[0], 2)],
    )
    res_path.write_text(json.dumps(r, indent=1))
    return r


def overrides(sets: list[str]) -> dict[str, Any]:
    """``FIELD=VALUE`` pairs; values parse as JSON (true, 1024, 0.5) or stay strings."""
    out: dict[str, Any] = {}
    for kv in sets:
        k, _, v = kv.partition("=")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def summarize(r: dict[str, Any]) -> dict[str, Any]:
    tail = r["losses"][-TAIL_STEPS:]
    return {
        "tokens": r["tokens_nonpad"],
        "train_s": r["train_s"],
        "tok_s": r["tokens_nonpad"] / r["train_s"],
        "tok_cpu_s": r["tokens_nonpad"] / r["cpu_s"] if r.get("cpu_s") else float("nan"),
        "best_step": max(
            (n / t for n, t in zip(r.get("step_tokens", []), r.get("step_s", []), strict=False) if t > 0),
            default=float("nan"),
        ),
        "median_step": median(
            [n / t for n, t in zip(r.get("step_tokens", []), r.get("step_s", []), strict=False) if t > 0]
            or [float("nan")]
        ),
        "rss_gb": r["peak_rss_mb"] / 1024,
        "loss": sum(tail) / len(tail) if tail else float("nan"),
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table; ratios are curate / peer."""
    s = {t: summarize(r) for t, r in results.items()}
    lines = [
        "| tool | steps | non-pad tokens | train s | tokens/s | median / best step tokens/s | tokens/CPU-s "
        "| peak RSS GB "
        "| final loss (last 5) | grad ckpt | measured (load avg start/end) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t, r in results.items():
        x, gc = s[t], "on" if r.get("gradient_checkpointing") else "off"
        lines.append(
            f"| {t} | {r['steps']} | {x['tokens']:,} | {x['train_s']:.0f} | {x['tok_s']:.1f} | "
            f"{x['median_step']:.0f} / {x['best_step']:.0f} | {x['tok_cpu_s']:.1f} | {x['rss_gb']:.2f} | "
            f"{x['loss']:.4f} | {gc} "
            f"| {r['measured_at']} ({r['loadavg_1m'][0]}/{r['loadavg_1m'][1]}) |"
        )
    for mine in (t for t in s if t.startswith("curate")):
        c = s[mine]
        for peer in (p for p in ("trl", "llamafactory") if p in s):
            p = s[peer]
            lines.append(
                f"\n{mine} / {peer}: tokens/s x{c['tok_s'] / p['tok_s']:.2f}, "
                f"tokens/CPU-s x{c['tok_cpu_s'] / p['tok_cpu_s']:.2f}, "
                f"peak RSS x{c['rss_gb'] / p['rss_gb']:.2f}, "
                f"final loss {100 * (c['loss'] / p['loss'] - 1):+.1f} %"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=8, help="effective batch (examples per optimizer step)")
    ap.add_argument(
        "--micro-batch", type=int, default=8, help="peers' per-device batch; accumulation makes up the rest"
    )
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=1000, help="rows in the shared chat file")
    ap.add_argument(
        "--packing", action="store_true", help="pack examples in all three (default: padded batches)"
    )
    ap.add_argument(
        "--curate-set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a curate TrainConfig field (e.g. gradient_checkpointing=true); "
        "its result is labelled curate[FIELD=VALUE]",
    )
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "train")
    a = ap.parse_args()
    if a.batch_size % a.micro_batch:
        ap.error("--batch-size must be a multiple of --micro-batch")
    model = model_dir()
    data = data_file(a, model)
    tag = f"s{a.steps}-l{a.max_len}-b{a.batch_size}-t{a.threads}{'-packed' if a.packing else ''}"
    out = a.out / tag
    out.mkdir(parents=True, exist_ok=True)
    spec = {
        "model_dir": str(model),
        "data": str(data),
        "steps": a.steps,
        "max_len": a.max_len,
        "batch_size": a.batch_size,
        "micro_batch": a.micro_batch,
        "grad_accum": a.batch_size // a.micro_batch,
        "lr": a.lr,
        "seed": a.seed,
        "threads": a.threads,
        "packing": a.packing,
        "rank": 8,
        "alpha": 16,
        "work_dir": str(out / "work"),
        "curate_overrides": overrides(a.curate_set),
    }
    spec_path = out / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    for tool in a.tools.split(","):
        if tool not in TOOLS:
            ap.error(f"unknown tool {tool!r}; choose from {TOOLS}")
        print(f"running {tool} ...", flush=True)
        label = f"curate[{','.join(a.curate_set)}]" if tool == "curate" and a.curate_set else tool
        r = run_tool(tool, spec_path, out, a.threads, label)
        x = summarize(r)
        print(f"  {label}: {x['tok_s']:.1f} tok/s, {x['rss_gb']:.2f} GB, loss {x['loss']:.4f}", flush=True)
    files = [f for f in out.glob("*.json") if f.stem.split("[")[0] in TOOLS]
    files.sort(key=lambda f: (TOOLS.index(f.stem.split("[")[0]), f.stem))
    results = {f.stem: json.loads(f.read_text()) for f in files}
    md = table(results)
    (out / "results.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
