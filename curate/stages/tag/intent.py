"""``tag.intent``: InsTag-style intent tags from an editable keyword/pattern taxonomy."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from pydantic import Field

from curate.errors import StageError
from curate.fields import Field as TextField
from curate.fields import field_text
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult


def load_taxonomy(path: str | None) -> dict[str, dict[str, Any]]:
    """The shipped taxonomy (curate/data/taxonomy/intent.yaml) or a user's YAML in the same shape."""
    if path is None:
        text = resources.files("curate").joinpath("data/taxonomy/intent.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    tags = (yaml.safe_load(text) or {}).get("tags") or {}
    if not isinstance(tags, dict) or not tags:
        raise StageError(f"taxonomy {path or 'intent.yaml'} has no `tags:` mapping", stage="tag.intent")
    return tags


def tag_regex(spec: dict[str, Any]) -> str:
    """One case-insensitive regex for a tag: its keywords (Latin ones on word boundaries) | patterns."""
    alts = []
    for kw in spec.get("keywords") or []:
        k = re.escape(str(kw).lower())
        alts.append(rf"\b{k}\b" if str(kw).isascii() and str(kw)[:1].isalnum() else k)
    alts.extend(f"(?:{p})" for p in spec.get("patterns") or [])
    return "(?i)(?:" + "|".join(alts) + ")" if alts else "$^"


@register("tag.intent")
class IntentTags(GlobalStage):
    """Tag each row's request with task types: ``tag_intent`` (list of str), nothing removed.

    InsTag (Lu et al. 2023) tags queries with open labels from an LLM, then normalizes them
    (aliases, a frequency floor). Here the labels come from a shipped, editable taxonomy of task
    types (translation, code, math, summarization, QA, writing, rewriting, classification,
    extraction, role-play, legal consultation, chitchat) with Chinese and English keywords and
    regex patterns, matched by polars over the whole column (one regex per tag, no Python per row).
    ``merge`` folds an existing list column of tags (e.g. LM-made) in, mapped through the aliases.
    Tags that fewer than ``min_rows`` rows carry are dropped (InsTag's frequency floor). Coverage
    (|union of tags| / taxonomy size) and per-tag counts go into the stats.
    Memory: the table plus one list column of tags (tens of bytes a row); no per-row Python.
    """

    class Config(StageConfig):
        field: TextField = Field("first_user", description="text to tag: the first user turn")
        taxonomy: str | None = Field(None, description="path to a taxonomy YAML (default: the shipped one)")
        min_rows: int = Field(1, ge=1, description="drop tags carried by fewer rows (frequency floor)")
        merge: str | None = Field(None, description="list column of extra tags to normalize and merge")
        with_system: bool = Field(
            True, description="also read the system prompt (datasets like LawBench state the task there)"
        )

    cfg: Config

    def apply(self, df: pl.DataFrame) -> StageResult:
        return self.combine(df, self.rowwise(df))

    def rowwise(self, df: pl.DataFrame) -> pl.DataFrame:
        """The row-local part: ``tag_intent`` before the frequency floor (one regex per tag over the
        column; on Ray it runs per block)."""
        tax = load_taxonomy(self.cfg.taxonomy)
        text = field_text(self.cfg.field)
        if self.cfg.with_system and self.cfg.field != "system":
            text = pl.concat_str([pl.col("system").fill_null(""), text], separator="\n")
        hits = [pl.when(text.str.contains(tag_regex(spec))).then(pl.lit(tag)) for tag, spec in tax.items()]
        tags = pl.concat_list(hits).list.drop_nulls()
        if self.cfg.merge:
            alias = {str(a).lower(): t for t, s in tax.items() for a in [t, *(s.get("aliases") or [])]}
            extra = pl.col(self.cfg.merge).list.eval(
                pl.element().cast(pl.Utf8).str.to_lowercase().replace(alias)
            )
            tags = pl.concat_list(tags, extra).list.unique(maintain_order=True)
        return df.with_columns(tag_intent=tags)

    def combine(self, df: pl.DataFrame, out: pl.DataFrame) -> StageResult:
        """The global part over ``rowwise``'s table: tag counts over all rows, the frequency floor
        (a tag is dropped everywhere when fewer than ``min_rows`` rows carry it), the stats."""
        tax = load_taxonomy(self.cfg.taxonomy)
        counts = (
            out.select(pl.col("tag_intent").explode().drop_nulls().value_counts())
            .unnest("tag_intent")
            .sort(["count", "tag_intent"], descending=[True, False])  # ties by name: one order every run
        )
        per_tag = dict(zip(counts["tag_intent"].to_list(), counts["count"].to_list(), strict=True))
        rare = [t for t, c in per_tag.items() if c < self.cfg.min_rows]
        if rare:
            out = out.with_columns(pl.col("tag_intent").list.set_difference(pl.lit(rare)))
        present = [t for t, c in per_tag.items() if c >= self.cfg.min_rows]
        stats = {
            "tags": {t: per_tag[t] for t in present},
            "dropped_rare": rare,
            "untagged_rows": int(out.select(pl.col("tag_intent").list.len() == 0).sum().item()),
            "coverage": round(len([t for t in present if t in tax]) / len(tax), 4),
        }
        return StageResult(kept=out, stats=stats)
