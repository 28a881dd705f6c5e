"""Properties: Alpaca -> canonical -> ShareGPT -> canonical -> Alpaca is lossless, and the
column-wise ids equal ``content_id`` row for row."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from curate.formats import from_records, to_records
from curate.formats.ids import frame_ids
from curate.schema import content_id, frame

# Any text with something besides whitespace (blank turns are rejects by design).
text = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "")
pair = st.lists(text, min_size=2, max_size=2)
alpaca = st.fixed_dictionaries({
    "instruction": text,
    "input": st.just(""),
    "output": text,
    "system": st.just("") | text,  # an absent system prompt is written "" (never null)
    "history": st.lists(pair, max_size=3),
})


@settings(max_examples=100, deadline=None)
@given(st.lists(alpaca, min_size=1, max_size=4))
def test_alpaca_sharegpt_round_trip_is_lossless(records: list[dict]) -> None:
    first = from_records(records, format="alpaca")
    assert first.rejects.height == 0
    sharegpt = to_records(first.table, "sharegpt")
    second = from_records(sharegpt, format="sharegpt")
    assert second.table["id"].to_list() == first.table["id"].to_list()
    assert second.table.drop("origin").equals(first.table.drop("origin"))
    assert to_records(second.table, "alpaca") == records


@settings(max_examples=100, deadline=None)
@given(st.lists(alpaca.map(lambda r: {**r, "input": "x"}), min_size=1, max_size=2))
def test_instruction_and_input_merge_once_then_stay_put(records: list[dict]) -> None:
    once = to_records(from_records(records, format="alpaca").table, "alpaca")
    assert [r["instruction"] for r in once] == [f"{r['instruction']}\nx" for r in records]
    twice = to_records(from_records(once, format="alpaca").table, "alpaca")
    assert twice == once


messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "tool"]),
                                            "content": st.text(max_size=30)}), max_size=4)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "kind": st.sampled_from(["chat", "text"]),
    "system": st.none() | st.text(max_size=20),
    "messages": messages,
    "tools": st.none() | st.text(max_size=10),
    "text": st.none() | st.text(max_size=30),
}), min_size=1, max_size=5))
def test_frame_ids_equal_content_id(rows: list[dict]) -> None:
    df = frame([{**r, "id": ""} for r in rows])
    assert frame_ids(df, min_rows=0).to_list() == [content_id(**r) for r in rows]


def test_frame_ids_on_tricky_unicode() -> None:
    rows = [{"kind": "chat", "system": "Ａ\u3000b\x1cc", "tools": None, "text": None,
             "messages": [{"role": "user", "content": "ﬁ ①\u2028"}]},
            {"kind": "text", "system": None, "messages": [], "tools": None,
             "text": "\U0001e030 new in Unicode 15 \u00a0x"}]
    df = frame([{**r, "id": ""} for r in rows])
    before = df.clone()
    assert frame_ids(df, min_rows=0).to_list() == [content_id(**r) for r in rows]
    assert df.equals(before)  # normalizing for the key leaves the table's text as it was


def test_frame_ids_split_between_polars_and_python(data_dir) -> None:
    """Chinese rows (polars path) and English rows (Python path) in one table keep their order."""
    from curate.formats import read_source
    from curate.recipe import SourceSpec

    df = read_source(SourceSpec(name="a", path="alpaca.json"), base_dir=data_dir).table
    expected = [content_id(kind=r["kind"], system=r["system"], messages=r["messages"], tools=r["tools"],
                           text=r["text"]) for r in df.iter_rows(named=True)]
    assert df["id"].to_list() == expected
    assert frame_ids(df, min_rows=1).to_list() == expected


def test_frame_ids_of_a_slice_and_of_chunked_columns() -> None:
    turns = [[{"role": "user", "content": f"问题\u3000{i}"}, {"role": "assistant", "content": f"a  {i}"}]
             for i in range(6)]
    rows = [{"kind": "chat", "system": f"s {i}", "tools": None, "text": None, "messages": t}
            for i, t in enumerate(turns)]
    df = frame([{**r, "id": ""} for r in rows])
    expected = [content_id(**r) for r in rows]
    assert frame_ids(df.slice(2, 3), min_rows=0).to_list() == expected[2:5]
    chunked = df.slice(0, 2).vstack(df.slice(2, 4))
    assert chunked.n_chunks() > 1
    assert frame_ids(chunked, min_rows=0).to_list() == expected
