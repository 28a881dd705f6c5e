"""Text cleaners: spoken filler words, and Unicode/whitespace/markup normalization."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property

import polars as pl
from pydantic import Field as PydField

from curate.pipeline.registry import register
from curate.stages.clean.base import CleanerConfig, CleanerStage, run_steps
from curate.text import wordlists
from curate.text.pybatch import map_rows

_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _alt(words: Sequence[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


@register("clean.filler_words")
class FillerWordsCleaner(CleanerStage):
    """Remove spoken fillers and interjections ("um", "uh", 嗯嗯, 呃) without breaking real words.

    Latin fillers match whole words only (``\\bum\\b`` leaves "umbrella"), case-insensitive:
    at the start of a sentence the filler goes with its trailing punctuation ("Umm...maybe" ->
    "maybe", "Hmm. I'll" -> "I'll"); inside a sentence it goes with the space before it and a comma
    after it ("I think, uh, that" -> "I think, that").

    CJK fillers are removed only where they stand as an interjection of their own: preceded by the
    start, punctuation or whitespace AND followed by punctuation, whitespace or the end — a filler
    repeated (嗯嗯, 啊啊啊) or a single one (呃), together with the punctuation after it:
    "嗯嗯，基本满意" -> "基本满意", "味道，呃，当然是怪味" -> "味道，当然是怪味". Between two characters they
    stay: "发出啊啊声" (onomatopoeia), "A型啊B型啊" and "好啊，" (particles), "金额，" (额 in a word).
    Sentence-final particles are removed only when listed in ``zh_particles`` ("好的嗯嗯。" with
    zh_particles [嗯] -> "好的。"). A rewritten turn is trimmed at both ends.
    """

    stat = "filler_words"

    class Config(CleanerConfig):
        lists: list[str] = PydField(
            ["fillers_en", "fillers_zh"], description="shipped list names or file paths"
        )
        extra_words: list[str] = PydField([], description="more fillers, inline")
        zh_particles: list[str] = PydField(
            [], description="CJK fillers also removed right after a word before punctuation (e.g. 嗯, 啊)"
        )

    @cached_property
    def _steps(self) -> list[tuple[str, str]]:
        entries = wordlists.load_many(self.cfg.lists, self.cfg.extra_words)
        latin = [w for w in entries if not _CJK_CHAR.search(w)]
        cjk = [w for w in entries if _CJK_CHAR.search(w)]
        steps: list[tuple[str, str]] = []
        if latin:
            w = _alt(latin)
            steps.append((rf"(?im)(^|[.!?…])([ \t]*)(?:{w})\b(?:[ \t]*[,.…!?;:]+)?[ \t]*", "${1}${2}"))
            steps.append((rf"(?i)[ \t]+(?:{w})\b(?:[ \t]*,)?", ""))
        if cjk:
            z = _alt(cjk)
            steps.append((rf"(^|[\p{{P}}\s])(?:(?:{z})+(?:[\p{{P}}\s]+|$))+", "${1}"))
        if self.cfg.zh_particles:
            steps.append((rf"(?:{_alt(self.cfg.zh_particles)})+([\p{{P}}])", "${1}"))
        return steps

    def rewrite(self, texts: pl.Series) -> tuple[pl.Series, pl.Series]:
        new, n = run_steps(texts, self._steps)
        trimmed = pl.select(pl.when(n > 0).then(new.str.strip_chars()).otherwise(new)).to_series()
        return trimmed, n


# ---- normalization -------------------------------------------------------------------------

CONTROL = r"[[\p{Cc}--[\t\n\r]]\x{200B}\x{200E}\x{200F}\x{2060}\x{FEFF}]"
# Latin-1 and cp1252 letters/punctuation that UTF-8 read as cp1252 turns into: no mojibake without one.
MOJIBAKE_HINT = re.compile(
    "[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122\ufffd]"
)
_HTML_TAGS = (
    "a|abbr|article|b|big|blockquote|body|br|button|center|code|del|div|em|font|footer|form|h[1-6]|head|"
    "header|hr|html|i|iframe|img|input|ins|label|li|link|mark|meta|nav|ol|option|p|pre|s|section|select|"
    "small|span|strike|strong|style|sub|sup|table|tbody|td|textarea|th|thead|title|tr|u|ul"
)
HTML_STEPS = [
    (r"(?is)<(script|style)\b[^>]*>.*?</(?:script|style)>", ""),
    (r"(?s)<!--.*?-->", ""),
    (r"(?i)<br\s*/?>|</p\s*>", "\n"),
    (rf"(?i)</?(?:{_HTML_TAGS})\b[^<>]*>", ""),
]
ENTITIES = {"&nbsp;": " ", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'", "&apos;": "'", "&amp;": "&"}
MARKDOWN_STEPS = [
    (r"(?m)^[ \t]*```[^\n]*\n?", ""),  # code fence lines (the code stays)
    (r"(?m)^#{1,6}[ \t]+", ""),  # headings
    (r"!\[([^\]]*)\]\([^)]*\)", "${1}"),  # images -> alt text
    (r"\[([^\]]+)\]\([^)]*\)", "${1}"),  # links -> link text
    (r"\*\*([^*\n]+)\*\*", "${1}"),
    (r"__([^_\n]+)__", "${1}"),
    (r"\*([^*\s][^*\n]*)\*", "${1}"),
    (r"`([^`\n]+)`", "${1}"),
    (r"(?m)^>[ \t]?", ""),  # blockquotes
    (r"(?m)^[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*$\n?", ""),  # horizontal rules
]
WHITESPACE_STEPS = [
    (r"\r\n?", "\n"),
    (r"[\x{00A0}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}]", " "),
    (r"[ \t]+\n", "\n"),
    (r"(\S)[ \t]{2,}", "${1} "),  # runs inside a line; indentation at line start is kept (code)
    (r"\n{3,}", "\n\n"),
]


def fix_mojibake(texts: Sequence[str | None]) -> list[str | None]:
    """ftfy's encoding fix on the texts that contain a mojibake hint character; others pass as is."""
    import ftfy

    return [ftfy.fix_encoding(t) if t and MOJIBAKE_HINT.search(t) else t for t in texts]


@register("clean.normalize")
class NormalizeCleaner(CleanerStage):
    """Normalize text: mojibake, control characters, optional NFKC, optional HTML/Markdown, whitespace.

    Steps, in order: ``fix_mojibake`` (ftfy ``fix_encoding``: "Ã©" -> "é"; per-row Python through
    ``map_rows``, only for texts holding a Latin-1/cp1252 hint character); ``strip_control``
    (control characters except tab/newline, zero-width space, BOM, direction marks); ``nfkc``
    (off by default: NFKC also turns Chinese full-width punctuation ，！？：into ASCII);
    ``strip_html`` (known HTML tags, comments, script/style blocks, common entities);
    ``strip_markdown`` (headings, emphasis, links -> text, images -> alt, fences, quotes, rules);
    ``normalize_whitespace`` (CRLF -> LF, exotic spaces incl. U+3000 -> space, trailing spaces,
    runs of spaces inside a line, 3+ newlines -> 2, trimmed ends). Changes count regex matches,
    and 1 per text that ftfy, NFKC or trimming changed.
    """

    stat = "normalize"

    class Config(CleanerConfig):
        fix_mojibake: bool = PydField(True, description="repair UTF-8 decoded as Latin-1/cp1252 (ftfy)")
        strip_control: bool = PydField(True, description="remove control and zero-width characters")
        nfkc: bool = PydField(False, description="Unicode NFKC (also rewrites full-width CJK punctuation)")
        strip_html: bool = PydField(False, description="remove HTML tags, comments and common entities")
        strip_markdown: bool = PydField(False, description="remove Markdown markup, keep its text")
        normalize_whitespace: bool = PydField(True, description="tidy spaces and blank lines, trim ends")

    def rewrite(self, texts: pl.Series) -> tuple[pl.Series, pl.Series]:
        c = self.cfg
        n = pl.zeros(texts.len(), dtype=pl.Int64, eager=True)

        def changed(before: pl.Series, after: pl.Series) -> pl.Series:
            return (before != after).fill_null(False).cast(pl.Int64)

        if c.fix_mojibake:
            fixed = pl.Series(map_rows("clean.normalize/ftfy", fix_mojibake, texts.to_list()), dtype=pl.Utf8)
            n, texts = n + changed(texts, fixed), fixed
        if c.strip_control:
            texts, k = run_steps(texts, [(CONTROL, "")])
            n = n + k
        if c.nfkc:
            normed = texts.str.normalize("NFKC")
            n, texts = n + changed(texts, normed), normed
        if c.strip_html:
            texts, k = run_steps(texts, HTML_STEPS)
            ent = texts.str.count_matches("|".join(ENTITIES)).cast(pl.Int64)
            texts = texts.str.replace_many(list(ENTITIES), list(ENTITIES.values()))
            n = n + k + ent
        if c.strip_markdown:
            texts, k = run_steps(texts, MARKDOWN_STEPS)
            n = n + k
        if c.normalize_whitespace:
            texts, k = run_steps(texts, WHITESPACE_STEPS)
            trimmed = texts.str.strip_chars()
            n, texts = n + k + changed(texts, trimmed), trimmed
        return texts, n
