"""rensa and datasketch side of the MinHash benchmark (runs in bench/.venvs/minhash).

Both get the same shingles (``common.py_shingles``: built in Python, as their users do), the
same 14 bands x 9 rows, and the usual check of each LSH candidate by the MinHash estimate of
Jaccard (neither library computes exact Jaccard). rensa needs num_perm divisible by the band
count, so it gets 126 permutations (14 x 9, what the other tools' bands use). Single process:
neither library has a multi-process mode (rensa's bulk digest uses Rust threads on its own).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Timer, components, emit, py_shingles, read_jsonl

BANDS, ROWS = 14, 9


def run_rensa(token_sets: list[list[str]], threshold: float) -> list[tuple[int, int]]:
    import rensa

    mhs = rensa.RMinHash.from_token_sets(token_sets, BANDS * ROWS, 42)
    lsh = rensa.RMinHashLSH(threshold, BANDS * ROWS, BANDS)
    lsh.insert_many(mhs)
    pairs = []
    for i, cands in enumerate(lsh.query_all(mhs)):
        for j in cands:
            if j > i and mhs[i].jaccard(mhs[j]) >= threshold:
                pairs.append((i, j))
    return pairs


def run_datasketch(token_sets: list[list[str]], threshold: float) -> list[tuple[int, int]]:
    from datasketch import MinHash, MinHashLSH

    mhs = MinHash.bulk([[s.encode("utf-8") for s in ts] for ts in token_sets], num_perm=128, seed=42)
    lsh = MinHashLSH(threshold=threshold, num_perm=128, params=(BANDS, ROWS))
    with lsh.insertion_session() as session:
        for i, m in enumerate(mhs):
            if token_sets[i]:
                session.insert(i, m)
    pairs = []
    for i, m in enumerate(mhs):
        if token_sets[i]:
            for j in lsh.query(m):
                if j > i and m.jaccard(mhs[j]) >= threshold:
                    pairs.append((i, j))
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tool", choices=["rensa", "datasketch"])
    ap.add_argument("task", choices=["minhash", "quality", "sketch"])
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threshold", type=float, default=0.8)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.task == "sketch":  # rensa's flat-hash digest on curate's saved shingle hashes, best of 3
        import numpy as np
        import rensa

        hashes, offsets = np.load(Path(a.input) / "hashes.npy"), np.load(Path(a.input) / "offsets.npy")
        best = float("inf")
        for _ in range(3):
            with Timer() as t:
                rensa.RMinHash.digest_matrix_from_flat_token_hashes(
                    hashes, offsets.astype(np.uint64), 128, 42
                )
            best = min(best, t.s)
        n = offsets.size - 1
        return emit(
            {"docs_in": n, "docs_kept": n, "core_s": best, "total_s": best, "shingles": int(hashes.size)}
        )
    with Timer() as total:
        rows = read_jsonl(a.input)
        with Timer() as core:
            with Timer() as shingling:
                token_sets = [list(set(py_shingles(r["text"]))) for r in rows]
            pairs = (run_rensa if a.tool == "rensa" else run_datasketch)(token_sets, a.threshold)
            root = components(len(rows), pairs)
            kept = [r for k, r in enumerate(rows) if root[k] == k]  # keep the first of each cluster
        with open(out / "kept.jsonl", "w", encoding="utf-8") as f:
            for r in kept:
                f.write(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n")
        if a.task == "quality":
            (out / "pairs.json").write_text(json.dumps(pairs))
            removed = [[k, root[k]] for k in range(len(rows)) if root[k] != k]
            (out / "removed.json").write_text(json.dumps(removed))
    emit(
        {
            "docs_in": len(rows),
            "docs_kept": len(kept),
            "core_s": core.s,
            "total_s": total.s,
            "shingle_s": shingling.s,
        }
    )


if __name__ == "__main__":
    main()
