"""The floor for exact dedup: a plain Python script with a ``set`` of hashes (stdlib only).

What a user would write in ten lines instead of installing anything: read the JSONL, normalize each
text as ``dedup.exact`` does by default (NFKC, lowercase, whitespace collapsed), keep a document
when the hash of that key is new, write the kept documents. ``curate run`` with ``dedup.exact``
should cost at most 1.25x this whole process (issue 13).
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from pathlib import Path

from common import Timer, emit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=["exact"])
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    seen: set[int] = set()
    n = kept = 0
    with (Timer() as total, open(a.input, encoding="utf-8") as f,
          open(out / "kept.jsonl", "w", encoding="utf-8") as w):
        for line in f:
            n += 1
            text = json.loads(line)["text"]
            h = hash(" ".join(unicodedata.normalize("NFKC", text).lower().split()))
            if h not in seen:
                seen.add(h)
                kept += 1
                w.write(line)
    emit({"docs_in": n, "docs_kept": kept, "core_s": total.s, "total_s": total.s})


if __name__ == "__main__":
    main()
