"""dedup.exact on real documents (Chinese law, reviews, Python docs): each normalization, survivor, scope."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from curate.errors import StageError
from curate.pipeline.registry import get
from curate.pipeline.stage import StageContext
from curate.schema import chat_row, frame, text_row
from curate.text.normalize import normalized
from curate.text.textkey import text_keys

DATA = Path(__file__).resolve().parents[2] / "data" / "dedup" / "real_docs.jsonl"


def real_docs() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text("utf-8").splitlines()]


def pick(source: str, k: int = 0, *, contains: str = "") -> str:
    texts = [d["text"] for d in real_docs() if d["source"] == source and contains in d["text"]]
    return texts[k]


def run(rows: list[dict], **cfg: object):
    stage = get("dedup.exact")(cfg, ctx=StageContext(seed=1))
    df = frame(rows)
    res = stage.apply(df)
    assert res.kept.height + res.removed.height == df.height
    return res


def test_real_corpus_counts_and_ledger() -> None:
    docs = real_docs()
    reposted = docs[::9]  # every ninth document posted again, as forums and scrapes do
    rows = [text_row(d["text"], source=d["source"], origin=d["origin"]) for d in docs]
    rows += [text_row(d["text"], source=d["source"], origin=d["origin"] + ":again") for d in reposted]
    res = run(rows)
    assert res.removed.height == len(reposted)
    assert res.removed["origin"].to_list() == [d["origin"] + ":again" for d in reposted]
    assert set(res.removed["stage"]) == {"dedup.exact"} and set(res.removed["reason"]) == {"exact_duplicate"}
    assert res.removed["value"].to_list() == [1.0] * len(reposted)
    by_origin = dict(zip(res.kept["origin"], res.kept["id"], strict=True))
    assert res.removed["dup_of"].to_list() == [by_origin[d["origin"]] for d in reposted]
    assert res.kept["origin"].to_list() == [d["origin"] for d in docs]  # input order kept


def test_lowercase_option() -> None:
    en = pick("pydocs", 3)
    rows = [text_row(en), text_row(en.upper())]
    assert run(rows).removed.height == 1
    assert run(rows, lowercase=False).removed.height == 0


def test_whitespace_options() -> None:
    zh = pick("laws", 0)
    en = pick("pydocs", 5)
    spaced_zh = " ".join(zh)  # the same article typed with a space between characters
    messy_en = "  " + en.replace(" ", " \n\t ") + "\n"
    rows = [text_row(zh), text_row(spaced_zh), text_row(en), text_row(messy_en)]
    assert run(rows, whitespace="keep").removed.height == 0
    assert set(run(rows, whitespace="collapse").removed["text"]) == {messy_en}
    assert set(run(rows, whitespace="remove").removed["text"]) == {messy_en, spaced_zh}


def test_punctuation_options() -> None:
    zh = pick("reviews", contains="。")
    ascii_stops = zh.replace("。", ".")  # the ideographic full stop, which NFKC leaves alone
    no_punct = "".join(ch for ch in zh if ch not in "，。！？、,.!?")
    rows = [text_row(zh), text_row(ascii_stops), text_row(no_punct)]
    assert run(rows, punctuation="keep").removed.height == 0
    assert set(run(rows, punctuation="fold").removed["text"]) == {ascii_stops}
    assert set(run(rows, punctuation="remove").removed["text"]) == {ascii_stops, no_punct}


def test_fullwidth_forms_fold_always() -> None:
    en = "Python 3.11 changes: 12 items"
    full = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in en)
    assert run([text_row(en), text_row(full)]).removed.height == 1


def test_survivor_rules_and_dup_of() -> None:
    zh = pick("laws", 2)
    rows = [
        text_row(zh, origin="a", score_quality=0.2),
        text_row(zh + " ", origin="b", score_quality=0.9),
        text_row(" " + zh + "  ", origin="c", score_quality=0.5),
    ]
    ids = {r["origin"]: r["id"] for r in rows}
    first = run(rows)
    assert first.kept["origin"].to_list() == ["a"]
    assert set(first.removed["dup_of"]) == {ids["a"]}
    best = run(rows, keep="score_quality")
    assert best.kept["origin"].to_list() == ["b"]
    assert set(best.removed["dup_of"]) == {ids["b"]}
    longest = run(rows, keep="longest")
    assert longest.kept["origin"].to_list() == ["c"]
    assert longest.removed["origin"].to_list() == ["a", "b"]  # removed keep input order


def test_scope_per_source_vs_global() -> None:
    zh = pick("laws", 4)
    rows = [text_row(zh, source="laws"), text_row(zh, source="news"), text_row(zh, source="news")]
    assert run(rows).removed.height == 2
    per = run(rows, scope="per_source")
    assert per.removed.height == 1 and per.removed["source"].to_list() == ["news"]


def test_chat_rows_and_fields() -> None:
    q = pick("lawbench", 0)
    a, b = chat_row([("user", q), ("assistant", "回答一")]), chat_row([("user", q), ("assistant", "回答二")])
    assert run([a, b]).removed.height == 0
    assert run([a, b], field="user").removed.height == 1


def test_missing_score_column_is_a_stage_error() -> None:
    rows = [text_row(pick("news", 0)), text_row(pick("news", 0))]
    with pytest.raises(StageError, match="score_missing"):
        run(rows, keep="score_missing")
    with pytest.raises(ValueError):
        get("dedup.exact")({"keep": "best"})


def test_empty_table() -> None:
    res = get("dedup.exact")().apply(frame([]))
    assert res.kept.height == 0 and res.removed.height == 0
    assert "dup_of" in res.removed.columns and isinstance(res.kept, pl.DataFrame)


@pytest.mark.parametrize("whitespace", ["keep", "collapse", "remove"])
@pytest.mark.parametrize("punctuation", ["keep", "fold", "remove"])
@pytest.mark.parametrize("lowercase", [True, False])
def test_compiled_keys_group_like_the_polars_normalization(whitespace, punctuation, lowercase) -> None:
    """textkey's one-pass hash and text.normalize.normalized (polars) must agree on which texts are equal."""
    texts = [d["text"] for d in real_docs()]
    variants = texts + [t.upper() for t in texts[:40]] + [" ".join(t) for t in texts[40:80]]
    variants += [t.replace("。", ".").replace("，", ",") for t in texts[80:120]]
    variants += ["\u3000" + t.replace(" ", "\n ") + "  " for t in texts[120:160]]
    col = pl.Series("t", variants)
    opts = {"lowercase": lowercase, "whitespace": whitespace, "punctuation": punctuation}
    k1, k2 = text_keys(col, **opts)
    by_key = pl.DataFrame({"a": k1, "b": k2}).select(pl.struct("a", "b").rank("dense"))[:, 0].to_list()
    norm = pl.DataFrame({"t": col}).select(normalized(pl.col("t"), **opts))[:, 0]
    by_norm = norm.rank("dense").to_list()
    pairs_key = {(a, b) for a, b in zip(by_key, by_norm, strict=True)}
    assert len(pairs_key) == len(set(by_key)) == len(set(by_norm))  # a bijection between the groupings
