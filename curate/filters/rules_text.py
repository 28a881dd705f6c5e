"""Character-class ratios of a field: alphanumeric, special, digit, whitespace, uppercase, control, URL.

One stage, ``filter.ratios``, scores all seven in one pass and removes by whichever thresholds the
recipe sets: a recipe line reads ``filter.ratios: {max_digit_ratio: 0.3, max_url_ratio: 0.2}``
instead of seven stages, and the notebook gets every distribution from one run. Each ratio is a
regex count over the whole column (no per-row Python).
"""

from __future__ import annotations

import polars as pl
from pydantic import Field as PydField

from curate.filters.textstats import TMP, URL_PATTERN, FieldConfig, ratio, score_name, text_of
from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, Rule

ALNUM = r"[\p{L}\p{N}]"
SPECIAL = r"[^\p{L}\p{N}\s]"
DIGIT = r"\p{Nd}"
SPACE = r"\s"
UPPER, LOWER = r"\p{Lu}", r"\p{Ll}"
# Control and format characters other than tab/newline/CR, private use, and U+FFFD
# (the decoder's replacement character): none of them is printable text.
CONTROL = r"[[\p{Cc}\p{Cf}\p{Co}\x{FFFD}]--[\t\n\r]]"

STATS = ("alnum", "special", "digit", "whitespace", "uppercase", "control", "url")


def ratio_exprs(text: pl.Expr) -> dict[str, pl.Expr]:
    """Each ratio of ``text``; denominators are characters, except uppercase (cased letters)."""
    chars = text.str.len_chars()
    upper = text.str.count_matches(UPPER)
    url_chars = text.str.extract_all(URL_PATTERN).list.eval(pl.element().str.len_chars()).list.sum()
    return {
        "alnum": ratio(text.str.count_matches(ALNUM), chars),
        "special": ratio(text.str.count_matches(SPECIAL), chars),
        "digit": ratio(text.str.count_matches(DIGIT), chars),
        "whitespace": ratio(text.str.count_matches(SPACE), chars),
        "uppercase": ratio(upper, upper + text.str.count_matches(LOWER)),
        "control": ratio(text.str.count_matches(CONTROL), chars),
        "url": ratio(url_chars.fill_null(0), chars),
    }


@register("filter.ratios")
class RatiosFilter(RowStage):
    """Score seven character ratios of a field and remove rows outside the thresholds set.

    Definitions (``chars`` = characters of the field; 0.0 for an empty field):
    ``alnum`` letters+digits (any script, so Chinese counts) / chars; ``special`` characters that are
    neither letter, digit nor whitespace (punctuation, symbols, emoji) / chars; ``digit`` decimal
    digits / chars; ``whitespace`` / chars; ``uppercase`` uppercase / cased letters (0 when there are
    none, e.g. Chinese); ``control`` non-printable characters (control and format characters except
    tab/newline/CR, private use, U+FFFD) / chars; ``url`` characters inside URLs / chars.
    All thresholds default to None (score only). Data-Juicer's defaults, for reference, are
    min_alnum_ratio 0.25 and max_special_ratio 0.25.
    """

    class Config(FieldConfig):
        min_alnum_ratio: float | None = PydField(
            None, ge=0, le=1, description="remove below this alphanumeric share"
        )
        max_special_ratio: float | None = PydField(
            None, ge=0, le=1, description="remove above this special-character share"
        )
        max_digit_ratio: float | None = PydField(
            None, ge=0, le=1, description="remove above this digit share"
        )
        max_whitespace_ratio: float | None = PydField(
            None, ge=0, le=1, description="remove above this whitespace share"
        )
        max_uppercase_ratio: float | None = PydField(
            None, ge=0, le=1, description="remove above this share of cased letters in upper case"
        )
        max_control_ratio: float | None = PydField(
            None, ge=0, le=1, description="remove above this non-printable share (0 removes any)"
        )
        max_url_ratio: float | None = PydField(
            None, ge=0, le=1, description="remove above this share of characters inside URLs"
        )

    def _col(self, stat: str) -> str:
        return score_name(f"{stat}_ratio", self.cfg.field, "all")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        exprs = ratio_exprs(pl.col(TMP))
        out = batch.with_columns(text_of(self.cfg.field).alias(TMP))
        return out.with_columns(exprs[s].alias(self._col(s)) for s in STATS).drop(TMP)

    def rules(self) -> list[Rule]:
        c = self.cfg
        out: list[Rule] = []
        if c.min_alnum_ratio is not None:
            col = pl.col(self._col("alnum"))
            out.append(Rule("low_alnum_ratio", col < c.min_alnum_ratio, col, c.min_alnum_ratio))
        for stat in STATS[1:]:
            thr = getattr(c, f"max_{stat}_ratio")
            if thr is not None:
                col = pl.col(self._col(stat))
                out.append(Rule(f"high_{stat}_ratio", col > thr, col, thr))
        return out
