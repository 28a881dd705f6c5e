"""Time curate's rule filters and dedup against Data-Juicer, datatrove, rensa and datasketch.

One command: ``bash bench/run.sh`` (builds the peer venvs and the corpus when missing, then runs
this). Every tool runs as its own subprocess on the same real-text corpus (bench/corpus.py); this
script measures each one's wall time and peak RSS (the sum over its process tree, sampled from
/proc every 50 ms, and the largest single process from ``wait4``), and prints docs/s and the
ratio to curate. Nothing here tunes a peer: each uses its defaults except the shared settings
named in its runner (bench/peers/*_run.py). Results go to bench/results/<time>.json and .md.
With ``--repeat N`` the tools take turns N times and each one's fastest run is reported (every
run's wall time is listed too): on a shared 2-core VM one run can be 50 % slower than the next.
A curate run during which numba wrote its kernel cache (it compiled, e.g. because a kernel's source
file changed after the warm-up) is marked ``*`` and never reported as the fastest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / ".data"
VENVS = HERE / ".venvs"
PY = {
    "curate": str(ROOT / ".venv/bin/python"),
    "dj": str(VENVS / "dj/bin/python"),
    "datatrove": str(VENVS / "datatrove/bin/python"),
    "minhash": str(VENVS / "minhash/bin/python"),
}
PEERS = HERE / "peers"


@dataclass
class Run:
    task: str
    tool: str
    argv: list[str]
    wall_s: float = 0.0
    cpu_s: float = 0.0  # user + system of the process and the children it reaped (wait4's rusage)
    rss_tree_mb: float = 0.0
    rss_max_proc_mb: float = 0.0
    load_avg: float = 0.0
    result: dict | None = None
    error: str | None = None
    walls: list[float] = field(default_factory=list)  # every repeat; wall_s etc. are the fastest's
    compiled: list[bool] = field(default_factory=list)  # per repeat: numba compiled inside the run
    cpus: list[float] = field(default_factory=list)  # every repeat's cpu_s


def kernel_cache() -> dict[str, int]:
    """curate's numba cache files and their mtimes: a run that changes them compiled kernels."""
    return {str(f): f.stat().st_mtime_ns for f in (ROOT / "curate").rglob("__pycache__/*.nb[ic]")}


def tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def execute(run: Run, log: Path) -> Run:
    """Run one tool; wall time ends when the process exits (a blocking ``wait4``), while a thread
    samples the tree's RSS every 50 ms, so the sampling period does not round the wall time up."""
    env = dict(os.environ, PYTHONHASHSEED="0", TOKENIZERS_PARALLELISM="false")
    stdout = log.with_suffix(".out")
    with open(log, "w") as err, open(stdout, "w") as std:
        t0 = time.perf_counter()
        proc = subprocess.Popen(run.argv, stdout=std, stderr=err, env=env, cwd=ROOT)
        peak, done = [0], threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss_kb(proc.pid))
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        run.wall_s = time.perf_counter() - t0
        run.cpu_s = usage.ru_utime + usage.ru_stime
        done.set()
        sampler.join()
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped by wait4 above
    out = stdout.read_text() + "\n" + log.read_text(errors="replace")  # some tools send stdout to logs
    run.load_avg = os.getloadavg()[0]
    run.rss_tree_mb = peak[0] / 1024
    run.rss_max_proc_mb = usage.ru_maxrss / 1024
    lines = [ln[ln.index("RESULT ") :] for ln in out.splitlines() if "RESULT {" in ln]
    if code == 0 and lines:
        run.result = json.loads(lines[-1][7:])
    else:
        run.error = f"exit {code}; see {log}"
    return run


def plan(tasks: list[str], out: Path, workers: int, sample: Path | None) -> list[Run]:
    corpus, w = str(DATA / "corpus.jsonl"), str(workers)
    runs: list[Run] = []

    def cur(task: str, inp: str = corpus, clustering: str = "components") -> Run:
        tool = "curate" if clustering == "components" else f"curate-{clustering}"
        o = str(out / f"{task}-{tool}")
        argv = [PY["curate"], str(PEERS / "curate_run.py"), task, "--input", inp, "--out", o]
        return Run(task, tool, [*argv, "--workers", w, "--clustering", clustering])

    def cli(task: str) -> Run:  # the product path: `curate run recipe.yaml`, same stages and options
        o = str(out / f"{task}-curate-cli")
        argv = [PY["curate"], str(PEERS / "curate_cli_run.py"), task, "--input", corpus, "--out", o]
        return Run(task, "curate-cli", [*argv, "--workers", w])

    def dj(task: str) -> Run:
        return Run(
            task,
            "Data-Juicer",
            [
                PY["dj"],
                str(PEERS / "dj_run.py"),
                task,
                "--input",
                corpus,
                "--out",
                str(out / f"{task}-dj"),
                "--workers",
                w,
            ],
        )

    def dt(task: str) -> Run:
        return Run(
            task,
            "datatrove",
            [
                PY["datatrove"],
                str(PEERS / "datatrove_run.py"),
                task,
                "--input-dir",
                str(DATA),
                "--out",
                str(out / f"{task}-dt"),
                "--workers",
                w,
            ],
        )

    def pyset(task: str) -> Run:  # the floor: a plain Python script with a set of hashes
        o = str(out / f"{task}-pyset")
        argv = [PY["curate"], str(PEERS / "pyset_run.py"), task, "--input", corpus, "--out", o]
        return Run(task, "python-set", argv)

    def mh(tool: str, task: str, inp: str = corpus) -> Run:
        return Run(
            task,
            tool,
            [
                PY["minhash"],
                str(PEERS / "minhash_run.py"),
                tool,
                task,
                "--input",
                inp,
                "--out",
                str(out / f"{task}-{tool}"),
            ],
        )

    for t in tasks:
        if t == "rules_dj":
            runs += [cur(t), cli(t), dj(t)]
        elif t == "rules_dt":
            runs += [cur(t), cli(t), dt(t)]
        elif t == "exact":
            runs += [cur(t), cli(t), pyset(t), dj(t), dt(t)]
        elif t == "minhash":
            runs += [cur(t), cli(t), mh("rensa", t), mh("datasketch", t), dt(t), dj(t)]
        elif t == "sketch":  # signatures alone, same shingle hashes: curate's kernel vs rensa's
            runs += [cur(t), mh("rensa", t, str(out / "sketch-curate"))]
        elif t == "quality" and sample is not None:
            runs += [cur(t, str(sample)), cur(t, str(sample), "greedy")]
            runs += [mh("rensa", t, str(sample)), mh("datasketch", t, str(sample))]
    return runs


def table(runs: list[Run]) -> str:
    head = (
        "| task | tool | docs in | docs kept | wall s | docs/s | ratio (tool/curate time) "
        "| core s | peak RSS tree MB | peak RSS 1 proc MB | load avg | every run's wall s "
        "| every run's cpu s |"
    )
    lines = [head, "|" + "---|" * 13]
    base = {r.task: r.wall_s for r in runs if r.tool == "curate" and r.result}
    for r in runs:
        if r.task == "quality":
            continue
        if not r.result:
            lines.append(f"| {r.task} | {r.tool} | | | | | failed: {r.error} | | | | | | |")
            continue
        n = r.result.get("docs_in") or next(
            x.result["docs_in"] for x in runs if x.tool == "curate" and x.result
        )
        ratio = f"{r.wall_s / base[r.task]:.1f}x" if r.task in base else "-"
        if r.task == "sketch":  # signatures alone: compare the timed kernel, not process wall time
            cur = next(x for x in runs if x.task == "sketch" and x.tool == "curate" and x.result)
            ratio = f"{r.result['core_s'] / cur.result['core_s']:.2f}x (core)"
        walls = ", ".join(f"{w:.2f}{'*' if c else ''}" for w, c in zip(r.walls, r.compiled, strict=True))
        lines.append(
            f"| {r.task} | {r.tool} | {n} | {r.result['docs_kept']} | {r.wall_s:.1f} | {n / r.wall_s:,.0f} | "
            f"{ratio} | {r.result['core_s']:.1f} | {r.rss_tree_mb:,.0f} | {r.rss_max_proc_mb:,.0f} "
            f"| {r.load_avg:.1f} | {walls} | {', '.join(f'{c:.2f}' for c in r.cpus)} |"
        )
    return "\n".join(lines)


def warm_up(runs: list[Run], out: Path) -> None:
    """Run each curate task once on 2,000 documents first, so numba's one-time compile (cached in
    ``__pycache__`` after the first use of an install) is not timed as the work. Before that,
    compile curate's bytecode, as pip did for the peers' packages at install: curate is an editable
    install, and with PYTHONDONTWRITEBYTECODE set it would otherwise re-parse every module per run."""
    compile_all = [PY["curate"], "-m", "compileall", "-q", str(ROOT / "curate")]
    subprocess.run(compile_all, check=False, capture_output=True)
    head = out / "warmup.jsonl"
    with open(DATA / "corpus.jsonl") as src, open(head, "w") as dst:
        for _, line in zip(range(2000), src, strict=False):
            dst.write(line)
    for r in runs:
        if r.tool.startswith("curate") and r.task != "sketch":
            argv = [a if a != str(DATA / "corpus.jsonl") else str(head) for a in r.argv]
            argv[argv.index("--out") + 1] = str(out / f"warmup-{r.task}-{r.tool}")
            t0 = time.perf_counter()
            subprocess.run(argv, check=False, capture_output=True, cwd=ROOT)
            took = time.perf_counter() - t0
            print(f"[warm-up] {r.task}: {r.tool} {took:.1f}s", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="rules_dj,rules_dt,exact,minhash,sketch,quality")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every tool this many times, taking turns, and report each one's fastest run",
    )
    args = ap.parse_args()
    tasks = args.tasks.split(",")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = HERE / "results" / stamp
    out.mkdir(parents=True, exist_ok=True)
    if not (DATA / "corpus.jsonl").exists():
        subprocess.run([PY["curate"], str(HERE / "corpus.py")], check=True)
    sample = None
    if "quality" in tasks:
        sys.path.insert(0, str(HERE))
        import quality

        sample = quality.build_sample(DATA / "corpus.parquet", out / "sample.jsonl")
    runs = plan(tasks, out, args.workers, sample)
    warm_up(runs, out)
    best: dict[int, Run] = {}
    last: dict[int, Run] = {}
    for k in range(args.repeat):  # rounds, so every tool meets the same background load
        for i, r in enumerate(runs):
            print(f"[{time.strftime('%H:%M:%S')}] {r.task}: {r.tool} ...", file=sys.stderr, flush=True)
            argv = [f"{a}-{k}" if k and j and r.argv[j - 1] == "--out" else a for j, a in enumerate(r.argv)]
            # a fresh output folder per repeat: datatrove skips tasks it finds completed there
            before = kernel_cache() if r.tool.startswith("curate") else {}
            got = execute(replace(r, argv=argv, walls=[]), out / f"{r.task}-{r.tool}.{k}.log")
            compiled = r.tool.startswith("curate") and kernel_cache() != before
            r.walls.append(got.wall_s)
            r.cpus.append(got.cpu_s)
            r.compiled.append(compiled)
            last[i] = got
            if got.result and not compiled and (i not in best or got.wall_s < best[i].wall_s):
                best[i] = got
            status = f"{got.wall_s:.1f}s (cpu {got.cpu_s:.1f}s)" if got.result else got.error
            if compiled:
                status += "  (* numba compiled during the run: a kernel source changed; not counted)"
            print(f"    {status}  (load avg {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    runs = [replace(best.get(i, last[i]), walls=r.walls, compiled=r.compiled, cpus=r.cpus)
            for i, r in enumerate(runs)]
    md = [f"machine: {os.cpu_count()} cores, load average at the end {os.getloadavg()}", "", table(runs)]
    if sample is not None:
        outputs = {r.tool: out / f"quality-{r.tool}" for r in runs if r.task == "quality" and r.result}
        q = quality.evaluate(sample, outputs, args.threshold)
        keys = [
            "true_pairs",
            "pair_recall",
            "pair_precision",
            "doc_recall",
            "doc_precision",
            "removed",
            "removal_precision",
            "true_pairs_left",
        ]
        md += [
            "",
            "| tool (5k sample) | " + " | ".join(k.replace("_", " ") for k in keys) + " |",
            "|---" * (len(keys) + 1) + "|",
        ]
        for tool, m in q.items():
            cells = [f"{m[k]:.4f}" if isinstance(m[k], float) else str(m[k]) for k in keys]
            md.append(f"| {tool} | " + " | ".join(cells) + " |")
    text = "\n".join(md)
    (out.parent / f"{stamp}.md").write_text(text + "\n")
    (out.parent / f"{stamp}.json").write_text(json.dumps([r.__dict__ for r in runs], default=str, indent=1))
    print(text)


if __name__ == "__main__":
    main()
