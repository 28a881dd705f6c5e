"""PII masking with typed placeholders: <EMAIL>, <ID_CARD>, <PHONE>, <IP>."""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field as PydField

from curate.pipeline.registry import register
from curate.stages.clean.base import CleanerConfig, CleanerStage, run_steps

PiiKind = Literal["email", "id_card", "phone", "ip"]

_B = r"(?-u:\b)"  # ASCII word boundary: "号110105..." has one between 号 and 1, Unicode \b has none
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
# PRC resident ID: 6-digit area, birth date 18xx-20xx, 3-digit sequence, check digit or X.
ID_CARD = r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
PHONE = "|".join(
    (
        rf"\+86[-\s]?1[3-9]\d(?:[-\s]?\d{{4}}){{2}}{_B}",  # +86 138 0013 8000
        # international with a + country code: +44 20 7946 0958
        rf"\+\d{{1,3}}[-\s]?(?:\(\d{{1,4}}\)[-\s]?)?\d{{2,4}}(?:[-\s]\d{{2,4}}){{1,4}}{_B}",
        rf"{_B}1[3-9]\d(?:[-\s]?\d{{4}}){{2}}{_B}",  # PRC mobile 13800138000 / 138-0013-8000
        rf"(?:\(\d{{3}}\)\s?|{_B}\d{{3}}[-.\s])\d{{3}}[-.\s]\d{{4}}{_B}",  # (555) 123-4567, 555-123-4567
        rf"{_B}0\d{{2,3}}-\d{{7,8}}{_B}",  # PRC landline 010-12345678
    )
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IP = rf"{_B}(?:{_OCTET}\.){{3}}{_OCTET}{_B}|{_B}(?:[0-9A-Fa-f]{{1,4}}:){{7}}[0-9A-Fa-f]{{1,4}}{_B}"

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"  # check character for (weighted sum mod 11)


def _valid_id(piece: pl.Expr) -> pl.Expr:
    """True where ``piece`` is a whole 18-character PRC ID whose ISO 7064 check character is right."""
    total = pl.sum_horizontal(
        piece.str.slice(i, 1).cast(pl.Int64, strict=False) * w for i, w in enumerate(_WEIGHTS)
    )
    expected = (total % 11).replace_strict(dict(enumerate(_CHECK)), default=None, return_dtype=pl.Utf8)
    return piece.str.contains(f"^{ID_CARD}$") & (piece.str.slice(17, 1).str.to_uppercase() == expected)


def mask_id_cards(texts: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Replace checksum-valid PRC ID numbers by <ID_CARD>; an 18-digit number that fails the check
    (an order number, a bank reference) stays. Regex cannot check a checksum, so each text is cut
    into pieces (a candidate, a digit run, a non-digit run) that join back to the same text; valid
    candidates are swapped and the pieces joined again, all inside polars."""
    e = pl.element()
    df = pl.DataFrame({"t": texts}).with_columns(
        pl.col("t").str.extract_all(rf"(?s){_B}{ID_CARD}{_B}|[0-9]+|[^0-9]+").alias("p")
    )
    df = df.with_columns(pl.col("p").list.eval(_valid_id(e).fill_null(False)).alias("ok"))
    hit = pl.col("ok").list.sum().fill_null(0)
    masked = (
        pl.col("p")
        .list.eval(pl.when(_valid_id(e).fill_null(False)).then(pl.lit("<ID_CARD>")).otherwise(e))
        .list.join("")
    )
    out = df.select(
        pl.when(hit > 0).then(masked).otherwise(pl.col("t")).alias("t"), hit.cast(pl.Int64).alias("n")
    )
    return out["t"], out["n"]


@register("clean.pii")
class PiiCleaner(CleanerStage):
    """Mask personal data with typed placeholders: <EMAIL>, <ID_CARD>, <PHONE>, <IP>.

    Run in this order so one pattern does not eat another: email (may contain digits), PRC
    18-digit ID card (checksum-validated, see ``mask_id_cards``), phone (PRC mobile 1[3-9] + 9 digits
    with optional +86 and - or space groups, PRC landline 0xx-xxxxxxxx, +country international,
    North-American (555) 123-4567), IPv4 and full-form IPv6. Digits touching letters are not
    matched (ASCII word boundaries), so "ABC13800138000" stays. ``score_pii_changes`` counts masks.
    """

    stat = "pii"

    class Config(CleanerConfig):
        kinds: list[PiiKind] = PydField(
            ["email", "id_card", "phone", "ip"], description="what to mask: email, id_card, phone, ip"
        )

    def rewrite(self, texts: pl.Series) -> tuple[pl.Series, pl.Series]:
        n = pl.zeros(texts.len(), dtype=pl.Int64, eager=True)
        kinds = self.cfg.kinds
        if "email" in kinds:
            texts, k = run_steps(texts, [(EMAIL, "<EMAIL>")])
            n = n + k
        if "id_card" in kinds:
            texts, k = mask_id_cards(texts)
            n = n + k
        steps = [
            (p, tag) for kind, p, tag in (("phone", PHONE, "<PHONE>"), ("ip", IP, "<IP>")) if kind in kinds
        ]
        texts, k = run_steps(texts, steps)
        return texts, n + k
