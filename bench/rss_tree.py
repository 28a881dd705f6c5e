"""Run a command and print the peak RSS of its whole process tree, summed at each sample.

`/usr/bin/time -v` reports the largest single process, which under-counts a run whose fused row
stages work in a pool of worker processes. This samples the tree every ``--every`` seconds (a
peak shorter than that can be missed) and prints ``peak_tree_rss_bytes=N`` on stderr.

    python bench/rss_tree.py -- python -m curate.cli run recipe.yaml --no-train
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time

import psutil


def tree_rss(p: psutil.Process) -> int:
    total = 0
    for q in [p, *p.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # exited between listing and reading
            total += q.memory_info().rss
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=float, default=0.2, help="seconds between samples")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    proc = subprocess.Popen(cmd)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, tree_rss(ps))
        except psutil.Error:
            break
        time.sleep(a.every)
    rc = proc.wait()
    print(f"peak_tree_rss_bytes={peak}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
