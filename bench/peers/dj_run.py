"""Data-Juicer side of the benchmark (runs in bench/.venvs/dj): its own executor, ``np`` processes.

Ops and thresholds: the six text filters at their defaults (text_length, words_num,
alphanumeric, special_characters, character_repetition, word_repetition); document_deduplicator
(lowercase); document_minhash_deduplicator (its default space tokenization and 5-gram window,
128 permutations, 14 bands x 9 rows, threshold 0.8). use_cache is off and the Hugging Face
cache points at a fresh folder, so no run reuses an earlier one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Timer, emit

OPS = {
    "rules_dj": [
        {"text_length_filter": {"min_len": 10}},
        {"words_num_filter": {"min_num": 10}},
        {"alphanumeric_filter": {"min_ratio": 0.25}},
        {"special_characters_filter": {"max_ratio": 0.25}},
        {"character_repetition_filter": {"rep_len": 10, "max_ratio": 0.5}},
        {"word_repetition_filter": {"rep_len": 10, "max_ratio": 0.5}},
    ],
    "exact": [{"document_deduplicator": {"lowercase": True}}],
    "minhash": [
        {
            "document_minhash_deduplicator": {
                "tokenization": "space",
                "window_size": 5,
                "lowercase": True,
                "num_permutations": 128,
                "jaccard_threshold": 0.8,
                "num_bands": 14,
                "num_rows_per_band": 9,
            }
        }
    ],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=sorted(OPS))
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(dir=out)
    import yaml

    cfg = {
        "project_name": f"bench-{a.task}",
        "dataset_path": str(Path(a.input).resolve()),
        "export_path": str((out / "kept.jsonl").resolve()),
        "np": a.workers,
        "text_keys": "text",
        "use_cache": False,
        "open_tracer": False,
        "process": OPS[a.task],
    }
    (out / "dj.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    with Timer() as total:
        from data_juicer.config import init_configs
        from data_juicer.core import DefaultExecutor

        with Timer() as core:
            ds = DefaultExecutor(init_configs(args=["--config", str(out / "dj.yaml")])).run()
    emit({"docs_in": None, "docs_kept": len(ds), "core_s": core.s, "total_s": total.s})


if __name__ == "__main__":
    main()
