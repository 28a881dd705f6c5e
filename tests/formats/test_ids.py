"""Row ids: one normalization (the fold table dedup uses), pinned values, compiled == Python on real text."""

from __future__ import annotations

import polars as pl

from curate import schema
from curate.formats.ids import frame_ids
from curate.schema import content_id, content_key, frame, normalize
from curate.text import normalize as text_normalize
from curate.text.textkey import text_keys

# ids are stable across runs, machines and releases: a change here changes every run's ids and
# every resume fingerprint, so it must come with a bump of ``schema.ID_VERSION``.
PINNED = {
    "text: 民法典　第一条": ("text", dict(text="《中华人民共和国民法典》第一条　为了保护民事主体的合法权益")),
    "chat": ("chat", dict(system="你是一名律师。", tools=None,
                          messages=[{"role": "user", "content": "Ｑ：合同无效怎么办？"},
                                    {"role": "assistant", "content": "依照  第一百五十七条\u00a0处理。"}])),
    "decomposed accent": ("text", dict(text="cafe\u0301 ﬁle")),
}
PINNED_IDS = {
    "text: 民法典　第一条": "3422fc416abb15df8d46e80b2cb5e071",
    "chat": "b002bd16f64235c59349e48be2fd5e33",
    "decomposed accent": "9933ffe4adf5d403477f70232bdf74fa",
}


def test_ids_are_pinned() -> None:
    assert schema.ID_VERSION == 2
    got = {name: content_id(kind=kind, **fields) for name, (kind, fields) in PINNED.items()}
    assert got == PINNED_IDS


def test_content_ids_fold_one_character_at_a_time_like_dedup() -> None:
    """Ids and dedup fold from one table (``schema.fold_map``): a decomposed accent stays two
    characters in both (whole-string NFKC, the old id normalization, composed it into one)."""
    folds = text_normalize.char_folds(False)
    table = schema.fold_map()
    assert all(folds[c] == table.get(c, chr(c)) for c in range(0x10000))
    assert normalize("cafe\u0301") == "cafe\u0301" != normalize("café")
    assert normalize("ＡＢ\u3000ｃ\u00a0 ﬁ") == "AB c fi"


def _real_texts(mixed: pl.DataFrame) -> list[str]:
    """LawBench QA and chit-chat turns, plus variants that differ only in their folding."""
    texts = mixed["messages"].list.eval(pl.element().struct.field("content")).explode().drop_nulls()
    variants = ["ＡＢＣ １２３", "ABC 123", "cafe\u0301", "café", "ﬁle", "file", "a\u00a0b", "a b", "①②",
                "12"]
    return texts.head(3000).to_list() + variants


def test_ids_group_texts_exactly_as_exact_dedup_without_lowercase(mixed) -> None:
    """Two texts share a content key iff ``dedup.exact``'s kernel (no lowercase, whitespace
    collapsed, punctuation kept) gives them one key: the same normalization."""
    texts = _real_texts(mixed)
    k1, k2 = text_keys(pl.Series(texts), lowercase=False, whitespace="collapse", punctuation="keep")
    by_id = {normalize(t): i for i, t in enumerate(texts)}
    by_kernel = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(k1, k2, strict=True))}
    assert len(by_id) == len(by_kernel) < len(texts)
    first_id = [by_id[normalize(t)] for t in texts]
    first_kernel = [by_kernel[(int(a), int(b))] for a, b in zip(k1, k2, strict=True)]
    assert first_id == first_kernel


def test_compiled_ids_equal_python_ids_on_real_rows(mixed) -> None:
    """LawBench QA and chit-chat, plus rows whose folding changes their length both ways."""
    extra = frame([
        schema.chat_row([("user", "㍿ ﷺ ⑴ ﬃ"), ("assistant", " \u3000 x \u2028y ")], system="\u00a0"),
        schema.text_row("全角：ＡＢＣ，１２３！" * 50),
    ])
    df = pl.concat([mixed, extra.select(mixed.columns)], how="vertical_relaxed")
    rows = df.select("kind", "system", "messages", "tools", "text").to_dicts()
    assert frame_ids(df, min_rows=0).to_list() == [content_id(**r) for r in rows]
    want = "user\x1d株式会社 صلى الله عليه وسلم (1) ffi\x1eassistant\x1dx y"
    assert content_key(**rows[-2]).split(schema._SEP_FIELD)[2] == want
