"""curate's product path: ``curate run recipe.yaml``, as a user runs it, on the benchmark corpus.

``curate_run.py`` calls the stages from Python on a ``pl.read_ndjson`` table (the library path).
This runs the same stages with the same options through a recipe and the CLI entry point, so its
wall time includes everything a user pays: start-up and imports, the recipe, reading with ids and
rejects, stage checkpoints, the output files, the manifest and the report. ``--force`` on every
call: a repeat must not reuse the previous repeat's finished stages. The emitted ``breakdown`` is the
manifest's own split (read, stages, the rest of the run) beside the process's import/start-up time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

T0 = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit  # noqa: E402
from curate_run import RULES_DJ, RULES_DT  # noqa: E402  (the same stages and options)


def recipe(task: str, inp: str, workers: int | None, threshold: float, clustering: str) -> str:
    if task in ("rules_dj", "rules_dt"):
        stages = [{name: cfg} for name, _, cfg in (RULES_DJ if task == "rules_dj" else RULES_DT)]
    elif task == "exact":
        stages = [{"dedup.exact": {}}]
    else:
        stages = [{"dedup.minhash": {"threshold": threshold, "clustering": clustering}}]
    return json.dumps({  # JSON is YAML
        "name": f"bench-{task}",
        **({"workers": workers} if workers else {}),  # a user's recipe leaves it out: the default
        "sources": [{"name": "bench", "path": str(Path(inp).resolve()), "format": "text",
                     "license": "mixed-open"}],
        "stages": stages,
        "output": {"format": "text", "file_format": "jsonl"},
    })


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=["rules_dj", "rules_dt", "exact", "minhash"])
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=None,
                    help="the recipe's workers (default: left out, as a user's recipe does: every CPU "
                    "as threads, the process pool only for per-row Python)")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--clustering", default="components", choices=["components", "greedy"])
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "recipe.yaml"
    path.write_text(recipe(a.task, a.input, a.workers, a.threshold, a.clustering), encoding="utf-8")
    t_cli = time.perf_counter()
    from curate.cli import main as curate_main  # the console script's entry

    sys.argv = ["curate", "run", str(path), "--out", str(out / "run"), "--force"]
    try:
        curate_main()
    except SystemExit as e:
        if e.code:
            raise
    m = json.loads((out / "run" / "manifest.json").read_text(encoding="utf-8"))
    stages = m["stages"][1:]
    took = m["timings"]
    emit({
        "docs_in": m["stages"][0]["rows_in"],
        "docs_kept": m["output"]["rows"],
        "core_s": sum(s["seconds"] for s in stages),
        "total_s": time.perf_counter() - T0,
        "breakdown": {
            "start_and_imports_s": round(t_cli - T0, 3),
            "read_s": took["read_s"],
            "stages_s": took["stages_s"],
            "output_manifest_report_s": round(took["total_s"] - took["read_s"] - took["stages_s"], 3),
            "compile_s": round(sum(s.get("compile_s") or 0 for s in stages), 3),
        },
    })


if __name__ == "__main__":
    main()
