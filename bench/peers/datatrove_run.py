"""datatrove side of the benchmark (runs in bench/.venvs/datatrove): LocalPipelineExecutor, 2 tasks.

Reads the two JSONL shards, writes uncompressed JSONL. Rule set: GopherQualityFilter,
GopherRepetitionFilter, C4QualityFilter, FineWebQualityFilter at their defaults. Exact dedup:
ExactDedupSignature -> ExactFindDedups -> ExactDedupFilter on lowercased, whitespace-collapsed
text. MinHash: its four documented steps (signatures, buckets, clusters, filter) with 5-grams,
14 buckets x 9 hashes; its word tokenizer is the default (English, spaCy).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Timer, emit


def content(doc):
    return " ".join(doc.text.lower().split())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=["rules_dt", "exact", "minhash"])
    ap.add_argument("--input-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    out = Path(a.out).resolve()
    w = a.workers
    with Timer() as total:
        from datatrove.executor import LocalPipelineExecutor
        from datatrove.pipeline.readers import JsonlReader
        from datatrove.pipeline.writers import JsonlWriter

        def reader():
            return JsonlReader(a.input_dir, glob_pattern="shard_*.jsonl", text_key="text", id_key="id")

        def writer():
            return JsonlWriter(str(out / "kept"), compression=None)

        def run(pipeline, tasks, name):
            LocalPipelineExecutor(
                pipeline=pipeline, tasks=tasks, workers=min(w, tasks), logging_dir=str(out / "logs" / name)
            ).run()

        with Timer() as core:
            if a.task == "rules_dt":
                from datatrove.pipeline.filters import (
                    C4QualityFilter,
                    FineWebQualityFilter,
                    GopherQualityFilter,
                    GopherRepetitionFilter,
                )

                steps = [
                    GopherQualityFilter(),
                    GopherRepetitionFilter(),
                    C4QualityFilter(),
                    FineWebQualityFilter(),
                ]
                run([reader(), *steps, writer()], 2, "rules")
            elif a.task == "exact":
                from datatrove.pipeline.dedup.exact_dedup import (
                    ExactDedupConfig,
                    ExactDedupFilter,
                    ExactDedupSignature,
                    ExactFindDedups,
                )

                cfg = ExactDedupConfig(content_getter=content)
                run([reader(), ExactDedupSignature(str(out / "sigs"), config=cfg)], 2, "sig")
                run([ExactFindDedups(str(out / "sigs"), str(out / "dups"), config=cfg)], 1, "find")
                run([reader(), ExactDedupFilter(str(out / "dups"), config=cfg), writer()], 2, "filter")
            else:
                from datatrove.pipeline.dedup.minhash import (
                    MinhashConfig,
                    MinhashDedupBuckets,
                    MinhashDedupCluster,
                    MinhashDedupFilter,
                    MinhashDedupSignature,
                )

                cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=9)
                run([reader(), MinhashDedupSignature(str(out / "sigs"), config=cfg)], 2, "sig")
                run([MinhashDedupBuckets(str(out / "sigs"), str(out / "buckets"), config=cfg)], 14, "buckets")
                run(
                    [MinhashDedupCluster(str(out / "buckets"), str(out / "remove"), config=cfg)], 1, "cluster"
                )
                run([reader(), MinhashDedupFilter(str(out / "remove")), writer()], 2, "filter")
        kept = sum(len(f.read_bytes().splitlines()) for f in (out / "kept").glob("*.jsonl"))
    emit({"docs_in": None, "docs_kept": kept, "core_s": core.s, "total_s": total.s})


if __name__ == "__main__":
    main()
