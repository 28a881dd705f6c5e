"""``mix.into_pretraining``: chat rows rendered as documents and mixed into a text corpus (MIP)."""

from __future__ import annotations

import logging
from typing import Literal

import polars as pl
from pydantic import Field

from curate.chat import ChatRenderer, plain_render
from curate.errors import StageError
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult, mark_removed
from curate.schema import content_id
from curate.stages.mix.allocate import allocate
from curate.stages.mix.ratio import repeat_warning
from curate.stages.mix.report import merge_groups
from curate.stages.mix.tokens import UNIT_COLUMN, measure, tokenizer_for

log = logging.getLogger(__name__)
PART = "__mix_part"


@register("mix.into_pretraining")
class MixIntoPretraining(GlobalStage):
    """Render chat rows as plain documents and mix them into the ``kind=text`` corpus at ``share``.

    Multi-Task Instruction Pretraining (Cheng et al. 2024, "Instruction Pre-Training") finds that
    continued pretraining which also sees instruction-response pairs as raw text learns the domain
    and keeps task formats. The text corpus is the anchor and is kept whole; instruction documents
    are sampled to ``share`` of the output (down without replacement, reason ``mix_downsampled``).
    Rows are repeated only when the recipe asks (``max_copies_per_row`` > 1; it was 3 by default and
    silent); otherwise a share the rows cannot reach is a run warning with the share achieved, and
    repeats, when asked for, are a run warning too (CLI summary, manifest, report). Output rows are
    ``kind=text``; each rendered row keeps its source, origin, domain and task, gets a new content
    id, and names its chat row in ``tag_chat_id``.
    ``template: plain`` needs no model and suits base models without a chat template.
    """

    class Config(StageConfig):
        share: float = Field(
            0.2, gt=0, lt=1, description="share of the output that is rendered instructions, in `unit`"
        )
        unit: Literal["examples", "tokens", "chars"] = Field("tokens", description="what the share counts")
        template: Literal["plain", "chat_template"] = Field(
            "plain", description="plain `User:`/`Assistant:` blocks, or the model's chat template"
        )
        max_copies_per_row: int = Field(
            1,
            ge=1,
            description="most times one instruction row may appear; 1 (default) never repeats a row "
            "and a share it cannot reach is a run warning with the share achieved; >1 up-samples, "
            "and the repeats are a run warning",
        )
        model: str | None = Field(
            None, description="tokenizer for tokens and chat_template (default: training model)"
        )
        seed: int | None = Field(None, description="overrides the recipe seed")

    cfg: Config

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: the table, its chat rows rendered as documents (their text again) and a weight
        per row (a token count for ``unit: tokens``); no narrow form, so the local executor holds
        it whole (on Ray ``rowwise`` runs per block and the driver holds the combined table)."""
        if df.height == 0:
            return StageResult(
                kept=df, removed=mark_removed(df, stage=self.name, reason=""), stats={"rows_in": 0}
            )
        self.check_input(df)
        return self.combine(df, self.rowwise(df))

    def check_input(self, df: pl.DataFrame) -> None:
        """A corpus to mix into must exist (before any rendering is spent)."""
        if df.filter(pl.col("kind") == "text").height == 0:
            raise StageError(
                "no kind=text rows to mix instructions into", stage=self.name, hint="add a text source"
            )

    def rowwise(self, df: pl.DataFrame) -> pl.DataFrame:
        """The row-local part, one output row per input row in input order: chat rows rendered as
        documents (``_render``), every row measured, ``__mix_part`` naming its side. The costly
        part (a template render, a content hash and a tokenizer call a row); on Ray it runs per
        block. Columns in one order whatever the rows, so blocks concatenate as one table."""
        cfg = self.cfg
        tok = (
            tokenizer_for(self.ctx, cfg.model)
            if cfg.unit == "tokens" or cfg.template == "chat_template"
            else None
        )
        is_text = pl.col("kind") == "text"
        pos = df.with_row_index("__pos")
        corpus = pos.filter(is_text).with_columns(pl.lit("corpus").alias(PART))
        docs = self._render(pos.filter(~is_text), tok)
        if "tag_chat_id" not in df.columns:
            corpus = corpus.with_columns(pl.lit(None, dtype=pl.Utf8).alias("tag_chat_id"))
        table = pl.concat([corpus, docs.select(corpus.columns)], how="vertical_relaxed")
        table = table.sort("__pos").drop("__pos")
        return measure(table, tokenizer=tok if cfg.unit == "tokens" else None)

    def combine(self, df: pl.DataFrame, prepared: pl.DataFrame) -> StageResult:
        """The allocation over ``rowwise``'s rows (corpus first, then the documents, as they enter
        ``allocate``) and the ledger of the chat rows left out: the same on every executor."""
        cfg = self.cfg
        is_doc = pl.col(PART) == "instructions"
        chats = df.filter(pl.col("kind") != "text").with_row_index("__ci")
        table = pl.concat([prepared.filter(~is_doc), prepared.filter(is_doc).with_row_index("__ci")],
                          how="diagonal_relaxed")  # fmt: skip
        unit_col = UNIT_COLUMN[cfg.unit]
        units = table.group_by(PART).agg((pl.col(unit_col).sum() if unit_col else pl.len()).cast(pl.Float64))
        have = dict(zip(units[PART].to_list(), units[units.columns[1]].to_list(), strict=True))
        target = cfg.share / (1 - cfg.share) * have["corpus"]
        alloc = allocate(
            table, by=PART, targets={"instructions": target}, unit_col=unit_col,
            max_copies=cfg.max_copies_per_row, seed=self.seed,
        )  # fmt: skip
        dropped_ix = alloc.dropped["__ci"].drop_nulls()
        removed = mark_removed(
            chats.filter(pl.col("__ci").is_in(dropped_ix.implode())).drop("__ci"),
            stage=self.name,
            reason="mix_downsampled",
        )
        groups = merge_groups(
            alloc.groups,
            alloc.kept,
            by=PART,
            target_shares={"corpus": 1 - cfg.share, "instructions": cfg.share},
        )
        inst = next((g for g in groups if g["group"] == "instructions"), None)
        got = inst["units_out"] / (inst["units_out"] + have["corpus"]) if inst else 0.0
        warnings = []
        if inst is None or not inst["met"]:
            warnings.append(
                f"achieved an instruction share of {got:.3f} instead of {cfg.share:g} ({cfg.unit}) "
                f"with max_copies_per_row={cfg.max_copies_per_row}; add instruction data, lower share,"
                " or set max_copies_per_row > 1 to repeat rows"
            )
        if alloc.added:
            warnings.append(repeat_warning(alloc.added, alloc.kept.height, cfg.max_copies_per_row))
        for w in warnings:
            log.warning("mix.into_pretraining: %s", w)
        stats = {
            "unit": cfg.unit,
            "template": cfg.template,
            "share_target": cfg.share,
            "share_achieved": round(got, 4),
            "repeats": alloc.added,
            "groups": groups,
            "warnings": warnings,
        }
        kept = alloc.kept.drop(PART, "__ci")
        return StageResult(
            kept=kept, removed=removed, added=alloc.added, stats=stats, warnings=list(warnings)
        )

    def _render(self, chats: pl.DataFrame, tok: object | None) -> pl.DataFrame:
        """Chat rows -> kind=text rows with the rendered conversation as ``text``."""
        systems, convs = chats["system"].to_list(), [m or [] for m in chats["messages"].to_list()]
        if self.cfg.template == "chat_template":
            rendered = ChatRenderer(tok).render_rows(systems, convs, chats["tools"].to_list())
            texts = [
                r if r is not None else plain_render(s, m)
                for r, s, m in zip(rendered, systems, convs, strict=True)
            ]
        else:
            texts = [plain_render(s, m) for s, m in zip(systems, convs, strict=True)]
        return chats.with_columns(
            pl.col("id").alias("tag_chat_id"),
            pl.Series("id", [content_id(kind="text", text=t) for t in texts], dtype=pl.Utf8),
            pl.lit("text").alias("kind"),
            pl.lit(None, dtype=pl.Utf8).alias("system"),
            pl.col("messages").list.head(0),
            pl.lit(None, dtype=pl.Utf8).alias("tools"),
            pl.Series("text", texts, dtype=pl.Utf8),
            pl.lit("instructions").alias(PART),
        )
