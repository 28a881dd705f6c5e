"""drop_leading_assistant: ShareGPT chunks that start mid-answer are repaired only when asked."""

from __future__ import annotations

import json
from pathlib import Path

from curate.formats import from_records

DATA = Path(__file__).resolve().parents[1] / "data"


def _chunk() -> dict:
    """Real fixture turns: a dangling answer (a chunk that starts with gpt) before a real human/gpt pair."""
    recs = json.loads((DATA / "sharegpt.json").read_text(encoding="utf-8"))
    dangling = next(r for r in recs if [t["from"] for t in r["conversations"]] == ["gpt"])
    pair = next(
        r
        for r in recs
        if len(r["conversations"]) == 2
        and r["conversations"][0]["from"] in ("human", "user")
        and all(t["value"].strip() for t in r["conversations"])
    )
    return {"conversations": dangling["conversations"] + pair["conversations"]}


def test_chunk_starting_with_assistant_is_rejected_by_default():
    res = from_records([_chunk()], format="sharegpt", name="sg")
    assert res.table.height == 0
    assert res.rejects["error"][0].startswith("role_order: conversation starts with assistant")


def test_drop_leading_assistant_repairs_the_chunk():
    rec = _chunk()
    res = from_records([rec], format="sharegpt", name="sg", drop_leading_assistant=True)
    assert res.rejects.height == 0
    msgs = res.table["messages"][0].to_list()
    assert msgs[0]["role"] == "user"
    assert msgs[0]["content"] == rec["conversations"][1]["value"]
    assert len(msgs) == len(rec["conversations"]) - 1
