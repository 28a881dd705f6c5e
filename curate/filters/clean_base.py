"""Base for cleaners: rewrite the chosen text in ``messages``, ``system`` and ``text``, count changes.

A cleaner supplies ``rewrite(text) -> (new_text, changes)``, built from elementwise polars
expressions of ``text`` so that the same expression rewrites the ``text`` column and, inside
``messages.list.eval``, every selected turn in one pass. The base class

* writes ``score_<stat>_changes`` (replacements made in the row, summed over its fields);
* removes a row one of whose fields had text before and is blank after, with reason
  ``emptied_by_clean``, the change count as value and its text as it was before cleaning: a
  cleaned-away answer is never silently kept as an empty turn nor silently dropped;
* keeps ``id``: it is the content id of the raw record (provenance), not of the cleaned text.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl
from pydantic import Field as PydField

from curate.fields import Field
from curate.filters.textstats import FieldConfig
from curate.filters.turns import turn_mask
from curate.pipeline.stage import RowStage, StageResult, mark_removed

_N, _EMPTIED = "__clean_n", "__clean_emptied"


class CleanerConfig(FieldConfig):
    field: Field = PydField(
        "all",
        description="what to rewrite: all (system + every turn + documents), text (every turn, no "
        "system), user, assistant, last_assistant, first_user, system; documents are always rewritten",
    )


def _blank(e: pl.Expr) -> pl.Expr:
    return e.fill_null("").str.strip_chars() == ""


class CleanerStage(RowStage):
    """A row stage that rewrites text and records what it changed (see module docstring)."""

    stat: ClassVar[str] = "clean"
    Config: ClassVar[type[CleanerConfig]] = CleanerConfig

    def rewrite(self, text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        """``(new_text, changes)`` for a string expression; both must be elementwise."""
        raise NotImplementedError

    @property
    def changes_col(self) -> str:
        return f"score_{self.stat}_changes"

    def _one(self, col: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
        new, n = self.rewrite(col)
        emptied = ~_blank(col) & _blank(new)
        return new, n.fill_null(0).cast(pl.Int64), emptied.fill_null(False)

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        field = self.cfg.field
        el = pl.element()
        content = el.struct.field("content")
        sel = turn_mask(field)
        new, n, emptied = self._one(content)
        msgs = pl.col("messages").list.eval(
            el.struct.with_fields(
                pl.when(sel).then(new).otherwise(content).alias("content"),
                pl.when(sel).then(n).otherwise(0).alias(_N),
                (sel & emptied).alias(_EMPTIED),
            )
        )
        t_new, t_n, t_emptied = self._one(pl.col("text"))
        do_sys = field in ("all", "system")
        s_new, s_n, s_emptied = self._one(pl.col("system"))
        out = batch.with_columns(msgs.alias("__msgs"))
        keep_fields = [f.name for f in batch.schema["messages"].inner.fields]  # type: ignore[union-attr]
        m = pl.col("__msgs")
        changes = m.list.eval(el.struct.field(_N)).list.sum().fill_null(0) + t_n
        emptied_any = m.list.eval(el.struct.field(_EMPTIED)).list.any().fill_null(False) | t_emptied
        sys_col = pl.col("system")
        if do_sys:
            changes = changes + s_n
            emptied_any = emptied_any | s_emptied
            sys_col = s_new
        return out.with_columns(
            m.list.eval(pl.struct(el.struct.field(f) for f in keep_fields)).alias("messages"),
            t_new.alias("text"),
            sys_col.alias("system"),
            changes.cast(pl.Int64).alias(self.changes_col),
            emptied_any.alias(_EMPTIED),
        ).drop("__msgs")

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Kept rows carry the cleaned text; a row the cleaner emptied goes to removed as it was
        before cleaning (so the ledger shows what was deleted), with its change count as value."""
        scored = self.transform(df)
        flag = scored[_EMPTIED]
        kept = scored.filter(~flag).drop(_EMPTIED)
        gone = df.with_columns(scored[self.changes_col]).filter(flag)
        removed = mark_removed(
            gone, stage=self.name, reason="emptied_by_clean", value=pl.col(self.changes_col)
        )
        return StageResult(kept=kept, removed=removed)
