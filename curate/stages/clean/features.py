"""User-feature enrichment: metadata columns -> ``tag_*`` columns and, by template, the system prompt."""

from __future__ import annotations

import string
from typing import Literal

import polars as pl
from pydantic import Field as PydField
from pydantic import field_validator

from curate.errors import RecipeError, StageError
from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, StageConfig


def parse_template(template: str) -> list[tuple[str, str | None]]:
    """``str.format`` template -> [(literal, field or None)]; format specs and conversions are refused
    (they would need per-row Python), as are positional fields."""
    parts = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise RecipeError(f"bad system_template: {e}", key="system_template") from e
    for literal, name, spec, conv in parsed:
        if name is not None and (not name or name.isdigit() or spec or conv):
            raise RecipeError(
                f"system_template field {{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}} "
                "is not supported",
                key="system_template",
                hint="use plain named fields like {age}",
            )
        parts.append((literal, name))
    return parts


@register("clean.user_features")
class UserFeaturesCleaner(RowStage):
    """Copy user metadata (age, gender, region, user group...) into ``tag_<field>`` columns and,
    optionally, into the system prompt, so training sees who is asking.

    The metadata arrives as extra columns on the table (a reader keeps unknown record keys). The
    template is ``str.format``-style with named fields ("用户：{age}岁，{gender}，{region}"), built as one
    ``concat_str`` over columns, no per-row Python. A row with a null in a field the template uses
    gets ``missing_text`` in its place, or, when that is None, keeps its system prompt unchanged.
    Documents (no system prompt) only get the tags. ``score_user_features_changes`` is 1 where the
    system prompt was rewritten. A field absent from the table is a StageError.
    """

    class Config(StageConfig):
        fields: list[str] = PydField(..., min_length=1, description="metadata columns to copy")
        tag_prefix: str = PydField("tag_", description="prefix of the copied columns")
        system_template: str | None = PydField(None, description="str.format template with named fields")
        system_position: Literal["prepend", "append", "replace"] = PydField(
            "prepend", description="where the rendered template goes relative to an existing system prompt"
        )
        separator: str = PydField("\n", description="between the rendered template and the existing prompt")
        missing_text: str | None = PydField(
            None, description="stands in for a null field; None skips the row"
        )

        @field_validator("system_template")
        @classmethod
        def _check(cls, v: str | None) -> str | None:
            if v is not None:
                parse_template(v)
            return v

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.cfg
        parts = parse_template(c.system_template) if c.system_template else []
        used = [name for _, name in parts if name]
        missing = [f for f in dict.fromkeys([*c.fields, *used]) if f not in batch.columns]
        if missing:
            raise StageError(
                f"metadata column(s) {missing} not in the table",
                stage=self.name,
                hint="the reader keeps extra record keys as columns; check their names",
            )
        out = batch.with_columns(pl.col(f).cast(pl.Utf8).alias(f"{c.tag_prefix}{f}") for f in c.fields)
        if not parts:
            return out.with_columns(pl.lit(0, dtype=pl.Int64).alias("score_user_features_changes"))
        pieces: list[pl.Expr] = []
        for literal, name in parts:
            if literal:
                pieces.append(pl.lit(literal))
            if name:
                col = pl.col(name).cast(pl.Utf8)
                pieces.append(col.fill_null(c.missing_text) if c.missing_text is not None else col)
        rendered = pl.concat_str(pieces)  # null when any used field is null and missing_text is None
        old = pl.col("system")
        if c.system_position == "replace":
            new = rendered
        else:
            both = [rendered, old] if c.system_position == "prepend" else [old, rendered]
            new = (
                pl.when(old.fill_null("") == "")
                .then(rendered)
                .otherwise(pl.concat_str(both, separator=c.separator))
            )
        apply = (pl.col("kind") == "chat") & rendered.is_not_null()
        return out.with_columns(
            pl.when(apply).then(new).otherwise(old).alias("system"),
            apply.cast(pl.Int64).alias("score_user_features_changes"),
        )
