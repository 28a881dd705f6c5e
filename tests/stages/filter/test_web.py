"""filter.c4 and filter.fineweb on real documents, statistics counted by hand."""

from __future__ import annotations

import pytest

from curate.schema import frame, text_row
from curate.stages.filter.web import C4Filter, FineWebFilter

# pydoc_data.topics.topics["pass"] (Python 3.11), verbatim: 8 non-blank lines, 12 newlines, 56 words.
PASS = (
    'The "pass" statement\n********************\n\n   pass_stmt ::= "pass"\n\n"pass" is a null '
    "operation — when it is executed, nothing happens. It\nis useful as a placeholder when a statement "
    "is required syntactically,\nbut no code needs to be executed, for example:\n\n   def f(arg): pass"
    "    # a function that does nothing (yet)\n\n   class C: pass       # a class with no methods (yet)\n"
)
# chitchat_dataset conversation a07edb12, its first nine messages as one document
CHAT_DOC = "\n".join(
    [
        "Hello",
        "How are you doing today?",
        "whats up MD",
        "im doing good",
        "how are you doing?",
        "Im alright, I just took a nap. But it was one of those naps that doesnt help anything. It just "
        "makes everything worse and you question all your life choices",
        "oh wow haha",
        "so you still feel tired huh?",
        "Yeah",
    ]
)


def test_fineweb_statistics_of_the_pass_topic() -> None:
    res = FineWebFilter().apply(frame([text_row(PASS)]))
    assert res.n_removed == 0
    s = res.kept.row(0, named=True)
    # only line 3 (pass_stmt ::= "pass") ends in terminal punctuation: 1/8 = 0.125, just above 0.12
    assert s["score_fineweb_line_punct_ratio"] == pytest.approx(1 / 8)
    # lines of <= 30 chars: the title (20), the underline (20), the grammar line (20): 3/8
    assert s["score_fineweb_short_line_ratio"] == pytest.approx(3 / 8)
    assert s["score_fineweb_dup_line_char_ratio"] == 0.0
    assert s["score_fineweb_newline_word_ratio"] == pytest.approx(12 / 56)


def test_fineweb_removal_ledger() -> None:
    res = FineWebFilter({"min_line_punct_ratio": 0.2}).apply(frame([text_row(PASS)]))
    assert res.removed.select("stage", "reason", "value", "threshold").row(0) == (
        "filter.fineweb",
        "fineweb_line_punct",
        0.125,
        "0.2",
    )
    # six "Yo" lines (chitchat 81c89a14): 5 of 6 lines' characters repeat
    res = FineWebFilter({"min_line_punct_ratio": None}).apply(frame([text_row("\n".join(["Yo"] * 6))]))
    assert res.removed["reason"].to_list() == ["fineweb_short_lines"]  # 6/6 short lines comes first
    assert res.removed["score_fineweb_dup_line_char_ratio"][0] == pytest.approx(10 / 12)


def test_c4_drops_every_line_of_the_pass_topic() -> None:
    # no line both ends in . ! ? " ' and has 3+ words: line 3 ends in '"' but has 2 words
    res = C4Filter().apply(frame([text_row(PASS)]))
    row = res.removed.row(0, named=True)
    assert (row["reason"], row["value"], row["threshold"]) == ("c4_too_few_sentences", 0.0, "5")
    assert row["score_c4_lines_dropped"] == 8
    assert row["text"] == PASS  # the ledger keeps the document as it came in


def test_c4_keeps_complete_lines_and_rewrites_the_document() -> None:
    # kept: "How are you doing today?", "how are you doing?", "so you still feel tired huh?"
    # (terminal punctuation and 3+ words); the other 6 lines are dropped; 3 sentences
    res = C4Filter({"min_sentences": 3}).apply(frame([text_row(CHAT_DOC)]))
    row = res.kept.row(0, named=True)
    assert row["text"] == "How are you doing today?\nhow are you doing?\nso you still feel tired huh?"
    assert (row["score_c4_lines_dropped"], row["score_c4_sentences"]) == (6, 3)
    assert "__c4_text" not in res.kept.columns


def test_c4_document_rules_and_an_emptied_document() -> None:
    # LawBench (1-1法条背诵) answer: one line ending in 。, one sentence, kept as is
    law = (
        "答案:为了规范农民专业合作社的组织和行为，鼓励、支持、引导农民专业合作社的发展，"
        "保护农民专业合作社及其成员的合法权益，推进农业农村现代化，制定本法。"
    )
    res = C4Filter({"min_sentences": 1}).apply(frame([text_row(law)]))
    assert res.kept["text"].to_list() == [law] and res.kept["score_c4_sentences"][0] == 1
    code = "Write this in your code: def f(): {return 1}."
    res = C4Filter({"min_sentences": None}).apply(frame([text_row(code), text_row("Hello")]))
    assert res.removed["reason"].to_list() == ["c4_curly_bracket", "emptied_by_clean"]
