"""The training end of a trace: a row's examples, their token ids and loss mask, and the steps that used them.

Training records (``curate/train/record.py``) ``train/examples.parquet`` (example -> row ids,
token and target counts) and ``train/steps.parquet`` (optimizer step -> examples), and the run's
``manifest.train.tokenized_train`` names the tokenized cache (Arrow IPC) that holds each example's
``input_ids`` and ``mask`` exactly as the trainer fed them. Nothing is re-tokenized here: the ids
and mask are read from that file (memory-mapped, one ``take``), and the tokenizer is loaded only to
decode them (spans of equal mask, so a CJK character split over two byte-level tokens decodes whole).
A step the loss-spike guard skipped (``"skipped": true`` in ``metrics.jsonl``) is listed apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from curate.chat.encode import spans

SPAN_CHARS = 360  # per span of the decoded example in ``str()``; ``Example.spans`` holds all of it


@dataclass
class Example:
    """One training example made from the row: what the model saw and which tokens it was trained on."""

    index: int  # into the tokenized cache and train/examples.parquet
    tokens: int
    targets: int  # tokens the loss counts (mask == 1, the first token never)
    steps: list[int] = field(default_factory=list)  # 1-based optimizer steps that used it
    epochs: list[int] = field(default_factory=list)  # the pass over the data of each of those steps
    skipped: list[int] = field(default_factory=list)  # steps among them the spike guard dropped
    ids: list[int] | None = None  # None when the tokenized cache is gone
    mask: list[int] | None = None
    spans: list[tuple[int, str]] = field(default_factory=list)  # (trained, decoded text)
    tokenizer: Any = field(default=None, repr=False)

    def token_table(self) -> pl.DataFrame:
        """One row per token: ``position``, ``id``, ``token`` (the vocabulary piece), ``trained``."""
        if self.ids is None or self.mask is None:
            return pl.DataFrame()
        tok = self.tokenizer
        pieces = tok.convert_ids_to_tokens(self.ids) if tok is not None else [None] * len(self.ids)
        return pl.DataFrame(
            {
                "position": range(len(self.ids)),
                "id": self.ids,
                "token": pieces,
                "trained": [bool(m) for m in self.mask],
            }
        )

    def rendered(self, *, chars: int | None = SPAN_CHARS) -> str:
        """The decoded example with every trained span wrapped in ``⟦ ⟧``; a span longer than
        ``chars`` keeps its start and end around a ``…(N chars)…`` mark (``None``: everything)."""

        def cut(t: str) -> str:
            if chars is None or len(t) <= chars:
                return t
            head, tail = chars * 2 // 3, chars // 3
            return f"{t[:head]}…({len(t) - head - tail:,} chars)…{t[-tail:]}"

        return "".join(f"⟦{cut(t)}⟧" if m else cut(t) for m, t in self.spans)

    def summary(self) -> str:
        used = ", ".join(f"{s} (epoch {e + 1})" for s, e in zip(self.steps, self.epochs, strict=True))
        out = f"example {self.index}: {self.tokens} tokens, {self.targets} trained (loss mask)"
        out += f"; steps {used}" if self.steps else "; used by no step (max_steps ended first)"
        if self.skipped:
            out += f"; skipped by the spike guard at step(s) {', '.join(map(str, self.skipped))}"
        return out


def _skipped_steps(train_dir: Path) -> set[int]:
    p = train_dir / "metrics.jsonl"
    if not p.exists():
        return set()
    out = set()
    for line in p.read_text(encoding="utf-8").splitlines():
        if '"skipped"' in line:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("skipped"):
                out.add(int(rec["step"]))
    return out


def _tokenizer(summary: dict[str, Any]) -> Any:
    from curate.models import load_tokenizer

    return load_tokenizer(str(summary["model"]))


def examples_of(
    train_dir: Path, summary: dict[str, Any], row_id: str, *, decode: bool = True, tokenizer: Any = None
) -> tuple[list[Example], str | None]:
    """The examples made from ``row_id`` with their steps, ids and mask; and a note when parts are missing.

    ``(examples, None)`` when everything was found; ``([], note)`` for a run trained before this was
    recorded. ``decode=False`` skips loading the tokenizer (ids and mask are still read).
    """
    ex_file, st_file = train_dir / "examples.parquet", train_dir / "steps.parquet"
    if not ex_file.exists() or not st_file.exists():
        return [], "this run's training did not record its examples and steps (trained by an older curate)"
    ex = (
        pl.scan_parquet(ex_file)
        .filter(pl.col("row_ids").list.contains(row_id))
        .select("example", "tokens", "targets")
        .collect()
    )
    if not ex.height:
        return [], None
    idx = ex["example"].to_list()
    plan = (
        pl.scan_parquet(st_file)
        .filter(pl.col("example").is_in(idx))
        .select("example", "step", "epoch")
        .sort("step")
        .collect()
    )
    skipped = _skipped_steps(train_dir)
    out = []
    for r in ex.iter_rows(named=True):
        mine = plan.filter(pl.col("example") == r["example"])
        steps = mine["step"].to_list()
        out.append(
            Example(
                r["example"],
                r["tokens"],
                r["targets"],
                steps,
                mine["epoch"].to_list(),
                [s for s in steps if s in skipped],
            )
        )
    note = _load_tokens(out, summary, decode=decode, tokenizer=tokenizer)
    return out, note


def _load_tokens(
    examples: list[Example], summary: dict[str, Any], *, decode: bool, tokenizer: Any
) -> str | None:
    import pyarrow as pa

    path = summary.get("tokenized_train")
    if not path or not Path(path).exists():
        return f"the tokenized cache {path} is gone (CURATE_CACHE cleaned?): counts and steps only"
    table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    picked = table.select(["input_ids", "mask", "n_targets"]).take([e.index for e in examples]).to_pylist()
    tok = (tokenizer or _tokenizer(summary)) if decode else None
    pairs = zip(examples, picked, strict=True)
    if any(len(r["input_ids"]) != e.tokens or r["n_targets"] != e.targets for e, r in pairs):
        return f"the tokenized cache {path} does not match train/examples.parquet: tokens not shown"
    for e, rec in zip(examples, picked, strict=True):
        e.ids, e.mask = rec["input_ids"], rec["mask"]
        if tok is not None:
            e.tokenizer = tok
            e.spans = [(m, tok.decode(span)) for m, span in spans(e.ids, e.mask)]
    return None
