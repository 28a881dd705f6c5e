"""Speed of HTML -> text on real HTML-ish rows: selectolax (lexbor, what ``clean.normalize``'s
``strip_html`` uses) vs lxml vs the stdlib ``html.parser``, and the old regex tag list for reference.

Rows: every ShareGPT answer holding a closing HTML tag (real chat about web code) plus the Python
3.11 and Debian Reference documentation pages (``bench/realtext.py``). lxml is not a curate
dependency: ``pip install --target DIR lxml`` and pass ``--lxml DIR``.

    python bench/html_strip.py [--lxml /tmp/lx]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from realtext import sharegpt_answers, web_html

from curate.stages.clean.text import html_to_text

OLD_TAGS = (
    "a|abbr|article|b|big|blockquote|body|br|button|center|code|del|div|em|font|footer|form|h[1-6]|head|"
    "header|hr|html|i|iframe|img|input|ins|label|li|link|mark|meta|nav|ol|option|p|pre|s|section|select|"
    "small|span|strike|strong|style|sub|sup|table|tbody|td|textarea|th|thead|title|tr|u|ul"
)
OLD = [
    re.compile(p)
    for p in (
        r"(?is)<(script|style)\b[^>]*>.*?</(?:script|style)>",
        r"(?s)<!--.*?-->",
        rf"(?i)</?(?:{OLD_TAGS})\b[^<>]*>",
    )
]


class _Stdlib(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style") and self.skip > 0

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def stdlib(texts: list[str]) -> list[str]:
    res = []
    for t in texts:
        p = _Stdlib()
        p.feed(t)
        p.close()
        res.append("".join(p.out))
    return res


def lxml_text(texts: list[str]) -> list[str]:
    import lxml.html

    res = []
    for t in texts:
        try:
            doc = lxml.html.fromstring(t)
        except Exception:  # lxml refuses empty documents and some fragments
            res.append(t)
            continue
        for bad in doc.xpath("//script|//style"):
            bad.drop_tree()
        res.append(doc.text_content())
    return res


def regex(texts: list[str]) -> list[str]:
    out = []
    for t in texts:
        for p in OLD:
            t = p.sub("", t)
        out.append(t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lxml", help="folder holding lxml (pip install --target)")
    a = ap.parse_args()
    rows = [t for t in sharegpt_answers() if re.search(r"</[a-zA-Z]", t)] + web_html()
    mb = sum(len(t.encode()) for t in rows) / 1e6
    tools = {
        "selectolax (curate)": lambda r: html_to_text(pl.Series(r)),
        "stdlib html.parser": stdlib,
        "old regex tag list": regex,
    }
    if a.lxml:
        sys.path.insert(0, a.lxml)
        tools["lxml"] = lxml_text
    print(f"{len(rows):,} rows, {mb:.1f} MB")
    print("| tool | seconds | MB/s |\n|---|---|---|")
    for name, fn in tools.items():
        t0 = time.perf_counter()
        fn(rows)
        s = time.perf_counter() - t0
        print(f"| {name} | {s:.2f} | {mb / s:.1f} |")


if __name__ == "__main__":
    main()
