"""Base for cleaners: rewrite the chosen text in ``messages``, ``system`` and ``text``, count changes.

A cleaner supplies ``rewrite(texts) -> (new_texts, changes)`` over one flat string Series. The base
class flattens every selected turn of every conversation (plus ``text`` and, for ``field: all`` or
``system``, the system prompt) into that Series, so a batch is rewritten in a few whole-column
passes, and puts the results back in place. Steps run one ``with_columns`` at a time: chaining
``replace_all`` expressions that each re-read the previous one would re-evaluate the chain
exponentially. The base class then

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
from curate.pipeline.stage import RowStage, StageResult, mark_removed
from curate.stages.filter.base import FieldConfig
from curate.text.turns import turn_mask

_ROW = "__clean_row"


class CleanerConfig(FieldConfig):
    field: Field = PydField(
        "all",
        description="what to rewrite: all (system + every turn + documents), text (every turn, no "
        "system), user, assistant, last_assistant, first_user, system; documents are always rewritten",
    )


def run_steps(texts: pl.Series, steps: list[tuple[str, str]]) -> tuple[pl.Series, pl.Series]:
    """Regex replacements in order, each on the previous step's output; changes = matches per step."""
    df = pl.DataFrame({"t": texts, "n": pl.zeros(texts.len(), dtype=pl.Int64, eager=True)})
    for pattern, repl in steps:
        df = df.with_columns(
            pl.col("t").str.replace_all(pattern, repl),
            pl.col("n") + pl.col("t").str.count_matches(pattern).cast(pl.Int64),
        )
    return df["t"], df["n"]


def _blank(s: pl.Series) -> pl.Series:
    return s.fill_null("").str.strip_chars() == ""


class CleanerStage(RowStage):
    """A row stage that rewrites text and records what it changed (see module docstring)."""

    stat: ClassVar[str] = "clean"
    Config: ClassVar[type[CleanerConfig]] = CleanerConfig

    def rewrite(self, texts: pl.Series) -> tuple[pl.Series, pl.Series]:
        """``(new_texts, changes)`` for a Utf8 Series without nulls, same length and order."""
        raise NotImplementedError

    @property
    def changes_col(self) -> str:
        return f"score_{self.stat}_changes"

    def _rewrite_where(self, values: pl.Series, sel: pl.Series) -> tuple[pl.Series, pl.Series, pl.Series]:
        """Rewrite the selected non-null values; returns (values, changes, emptied), all full length."""
        todo = sel.fill_null(False) & values.is_not_null()
        idx = todo.arg_true()
        n = pl.zeros(values.len(), dtype=pl.Int64, eager=True)
        if idx.len() == 0:
            return values, n, pl.repeat(False, values.len(), eager=True)
        old = values.gather(idx)
        new, k = self.rewrite(old)
        out = values.clone().scatter(idx, new)
        n = n.scatter(idx, k.cast(pl.Int64))
        emptied = pl.repeat(False, values.len(), eager=True).scatter(idx, ~_blank(old) & _blank(new))
        return out, n, emptied

    def _clean(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
        """Cleaned batch with the changes column, and the per-row 'a field was emptied' flag."""
        field = self.cfg.field
        height = batch.height
        flat = (
            batch.select(pl.col("messages"), pl.col("messages").list.eval(turn_mask(field)).alias("__sel"))
            .with_row_index(_ROW)
            .explode("messages", "__sel", empty_as_null=True)
        )
        content, n_m, e_m = self._rewrite_where(
            flat["messages"].struct.field("content"), flat["__sel"] & flat["messages"].is_not_null()
        )
        flat = flat.with_columns(
            pl.col("messages").struct.with_fields(content.alias("content")),
            n_m.alias("__n"),
            e_m.alias("__e"),
        )
        per_row = flat.group_by(_ROW, maintain_order=True).agg(
            pl.col("messages").drop_nulls(), pl.col("__n").sum(), pl.col("__e").any()
        )
        text, n_t, e_t = self._rewrite_where(batch["text"], pl.repeat(True, height, eager=True))
        changes, emptied = per_row["__n"] + n_t, per_row["__e"] | e_t
        cols = [per_row["messages"].alias("messages"), text.alias("text")]
        if field in ("all", "system"):
            system, n_s, e_s = self._rewrite_where(batch["system"], pl.repeat(True, height, eager=True))
            changes, emptied = changes + n_s, emptied | e_s
            cols.append(system.alias("system"))
        out = batch.with_columns(*cols, changes.cast(pl.Int64).alias(self.changes_col))
        if batch.schema["messages"] != out.schema["messages"]:
            out = out.with_columns(pl.col("messages").cast(batch.schema["messages"]))
        return out, emptied

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        return self._clean(batch)[0]

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Kept rows carry the cleaned text; a row the cleaner emptied goes to removed as it was
        before cleaning (so the ledger shows what was deleted), with its change count as value."""
        cleaned, flag = self._clean(df)
        kept = cleaned.filter(~flag)
        gone = df.with_columns(cleaned[self.changes_col]).filter(flag)
        removed = mark_removed(
            gone, stage=self.name, reason="emptied_by_clean", value=pl.col(self.changes_col)
        )
        return StageResult(kept=kept, removed=removed)
