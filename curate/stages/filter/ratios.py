"""Character-class ratios of a field: alphanumeric, special, digit, whitespace, uppercase, control, URL.

One stage, ``filter.ratios``, scores all seven in one pass and removes by whichever thresholds the
recipe sets: a recipe line reads ``filter.ratios: {max_digit_ratio: 0.3, max_url_ratio: 0.2}``
instead of seven stages, and the notebook gets every distribution from one run. Each ratio is a
compiled count over the column's UTF-8 bytes (``textscan.class_counts``), URLs a regex.
"""

from __future__ import annotations

import re
import string
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field as PydField

from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, Rule
from curate.stages.filter.base import FieldConfig, limit_fields, score_name
from curate.text.textscan import class_counts, share
from curate.text.textstats import URL_PATTERN, field_series

STATS = ("alnum", "special", "digit", "whitespace", "uppercase", "control", "url")
# Data-Juicer's SPECIAL_CHARACTERS (data_juicer/ops/common/special_characters.py, from BigScience's
# text-data-filtering): ASCII punctuation, digits and whitespace, a list of other characters
# (including the Han characters 一 and 上 and the katakana ン ッ ツ シ), and every emoji.
_DJ_OTHER = (
    "    　    ￼’“”–ー一▬…✦�­£​•€«»°·═×士＾˘⇓↓↑←→（）§″′´¿−±∈﻿¢ø‚„½¼¾¹²³―⁃，ˌ¸‹›ʺˈʻ¦‐⠀‰‑≤≥‖"
    "◆●■►▼▲▴∆▻¡★☆✱ːº。¯˜¥ɪ≈†上ン：∼⁄・♡✓⊕․．⋅÷１‟；،、¨ाাी्े◦˚゜ʼ≖ʼ¤ッツシ℃√！【】‿∞➤～πه۩☛₨➩☻๑٪♥ıॽ《‘©﴿٬？▷Г♫∟™ª₪®「—❖」﴾》"
)
DJ_SPECIAL = "[" + "".join(
    sorted({re.escape(c) for c in string.punctuation + string.digits + string.whitespace + _DJ_OTHER})
) + r"\p{Emoji}]"


def char_ratios(texts: pl.Series, *, workers: int = 1) -> dict[str, np.ndarray]:
    """Each ratio of every text: one compiled pass for the character classes, a regex for URLs.

    Denominators are characters, except uppercase (cased letters). The classes are the regexes in
    ``utf8.CLASS_PATTERNS``; special = neither alphanumeric nor whitespace (``[^\\p{L}\\p{N}\\s]``).
    """
    k = class_counts(texts, workers=workers)
    chars = k["chars"]
    url = pl.select(
        pl.lit(texts).str.extract_all(URL_PATTERN).list.eval(pl.element().str.len_chars()).list.sum()
    )
    return {
        "alnum": share(k["alnum"], chars),
        "special": share(chars - k["alnum"] - k["space"], chars),
        "digit": share(k["digit"], chars),
        "whitespace": share(k["space"], chars),
        "uppercase": share(k["upper"], k["upper"] + k["lower"]),
        "control": share(k["control"], chars),
        "url": share(url.to_series().fill_null(0).to_numpy(), chars),
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
    min_alnum_ratio 0.25 and max_special_ratio 0.25 — but its special characters are another set:
    ASCII punctuation, digits AND whitespace, emoji and a fixed list (``DJ_SPECIAL``), so ordinary
    English prose scores ~0.2 there (every space counts) and ~0.03 here. Its 0.25 only means the
    same with ``special_chars: data_juicer``, which scores ``special`` by that set (a regex pass;
    its test case: ``"emoji表情测试下😊，😸31231"`` 8/18 = 0.44 there, 3/18 = 0.17 here).
    """

    thread_safe = True  # polars and compiled kernels only (executors.local)

    class Config(FieldConfig):
        min_alnum_ratio: float | None = PydField(
            None, ge=0, le=1, description="remove below this alphanumeric share"
        )
        max_special_ratio: float | None = PydField(
            None, ge=0, le=1, description="remove above this special-character share"
        )
        special_chars: Literal["unicode", "data_juicer"] = PydField(
            "unicode",
            description="special = not letter/digit/whitespace (unicode), or Data-Juicer's character set",
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

    thresholds = limit_fields(Config)

    def _col(self, stat: str) -> str:
        return score_name(f"{stat}_ratio", self.cfg.field, "all")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        texts = field_series(batch, self.cfg.field)
        ratios = char_ratios(texts, workers=self.ctx.threads)
        if self.cfg.special_chars == "data_juicer":
            n = texts.fill_null("").str.count_matches(DJ_SPECIAL).cast(pl.Float64)
            chars = texts.fill_null("").str.len_chars().cast(pl.Float64)
            ratios["special"] = (n / chars).fill_nan(0.0).fill_null(0.0).to_numpy()
        return batch.with_columns(pl.Series(self._col(s), ratios[s]) for s in STATS)

    def rules(self) -> list[Rule]:
        c = self.cfg
        out = Rule.below("low_alnum_ratio", self._col("alnum"), c.min_alnum_ratio)
        for stat in STATS[1:]:
            out += Rule.above(f"high_{stat}_ratio", self._col(stat), getattr(c, f"max_{stat}_ratio"))
        return out
