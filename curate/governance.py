"""License governance: refuse a mix the recipe does not allow, and list what the output carries.

Every source names a ``license`` (an SPDX id or free text) and optional ``terms``. The runner calls
``check_licenses`` before writing output and puts ``license_manifest`` into the manifest. The table
below is deliberately small and conservative: a license it does not know is ``unknown`` and draws a
warning, and a commercial recipe refuses it, because nobody can vouch for commercial use of data
whose terms were never read. This is bookkeeping, not legal advice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from curate.errors import LicenseError


@dataclass(frozen=True)
class LicenseInfo:
    """What a license means for a training mix. ``commercial`` is None where it depends on terms."""

    spdx: str
    category: (
        str  # permissive | copyleft | noncommercial | no_derivatives | public_domain | proprietary | unknown
    )
    commercial: bool | None
    note: str = ""


def _info(spdx: str, category: str, commercial: bool | None, note: str = "") -> LicenseInfo:
    return LicenseInfo(spdx, category, commercial, note)


# exact SPDX ids (lower-case) and families matched by prefix, checked in order
KNOWN: dict[str, LicenseInfo] = {
    "apache-2.0": _info("Apache-2.0", "permissive", True),
    "mit": _info("MIT", "permissive", True),
    "isc": _info("ISC", "permissive", True),
    "unlicense": _info("Unlicense", "public_domain", True),
    "cc0-1.0": _info("CC0-1.0", "public_domain", True),
    "public-domain": _info("public-domain", "public_domain", True),
    "odc-by-1.0": _info("ODC-By-1.0", "permissive", True, "attribution required"),
    "odbl-1.0": _info("ODbL-1.0", "copyleft", True, "share-alike for the database"),
    "psf-2.0": _info("PSF-2.0", "permissive", True),
    "proprietary": _info("proprietary", "proprietary", None, "own or licensed data: check its terms"),
    "openrail": _info("OpenRAIL", "permissive", True, "use restrictions apply"),
    "llama2": _info("llama2", "proprietary", None, "Llama 2 community license: check terms"),
    "llama3": _info("llama3", "proprietary", None, "Llama 3 community license: check terms"),
    "gemma": _info("gemma", "proprietary", None, "Gemma terms of use: check terms"),
    "unknown": _info("unknown", "unknown", None),
}
FAMILIES: tuple[tuple[str, LicenseInfo], ...] = (
    ("cc-by-nc-nd", _info("CC-BY-NC-ND", "noncommercial", False, "no derivatives")),
    ("cc-by-nc", _info("CC-BY-NC", "noncommercial", False)),
    ("cc-by-nd", _info("CC-BY-ND", "no_derivatives", False, "a trained model may be a derivative")),
    ("cc-by-sa", _info("CC-BY-SA", "copyleft", True, "share-alike")),
    ("cc-by", _info("CC-BY", "permissive", True, "attribution required")),
    ("bsd", _info("BSD", "permissive", True)),
    ("agpl", _info("AGPL", "copyleft", True, "strong copyleft, network clause")),
    ("lgpl", _info("LGPL", "copyleft", True, "weak copyleft")),
    ("gpl", _info("GPL", "copyleft", True, "copyleft: commercial use allowed, obligations apply")),
    ("mpl", _info("MPL", "copyleft", True, "weak copyleft")),
    ("epl", _info("EPL", "copyleft", True, "weak copyleft")),
    ("research-only", _info("research-only", "noncommercial", False)),
    ("non-commercial", _info("non-commercial", "noncommercial", False)),
    ("noncommercial", _info("non-commercial", "noncommercial", False)),
)
ALIASES: dict[str, str] = {
    "apache": "apache-2.0", "apache2": "apache-2.0", "apache-2": "apache-2.0",
    "mit-license": "mit", "cc0": "cc0-1.0", "public": "public-domain", "pd": "public-domain",
    "publicdomain": "public-domain", "python": "psf-2.0", "psf": "psf-2.0", "private": "proprietary",
    "internal": "proprietary", "unclear": "unknown", "other": "unknown", "none": "unknown", "": "unknown",
}  # fmt: skip


def normalize_license(text: str | None) -> str:
    """A comparable key: lower case, words joined by ``-``, ``license``/``version`` words dropped.

    >>> normalize_license("Apache License 2.0"), normalize_license("CC BY-NC 4.0")
    ('apache-2.0', 'cc-by-nc-4.0')
    """
    s = (text or "").strip().lower()
    s = re.sub(r"\b(licen[cs]e|version|v(?=\d))\b", " ", s)
    s = re.sub(r"[^a-z0-9.+]+", "-", s).strip("-")
    s = re.sub(r"-?\+$", "-or-later", s)
    return ALIASES.get(s, s)


def classify(text: str | None) -> LicenseInfo:
    """What the table knows about a license string; ``unknown`` when nothing matches."""
    key = normalize_license(text)
    if key in KNOWN:
        return KNOWN[key]
    for prefix, info in FAMILIES:
        if key.startswith(prefix):
            return info
    if "public-domain" in key:
        return KNOWN["public-domain"]
    return LicenseInfo(text or "unknown", "unknown", None)


def _allowed(license_text: str | None, allowed: list[str]) -> bool:
    key, info = normalize_license(license_text), classify(license_text)
    keys = {normalize_license(a) for a in allowed}
    # an entry names an exact id ("cc-by-4.0"), a family ("cc-by", "bsd", "gpl") or a category
    # ("permissive"); a family never admits its relatives ("cc-by" does not admit "cc-by-nc-4.0")
    return key in keys or info.spdx.lower() in keys or info.category.replace("_", "-") in keys


def check_licenses(recipe: Any, counts_by_source: Mapping[str, int]) -> list[str]:
    """Warnings for the mix; raises LicenseError when a source's license is not allowed.

    Refused: a license outside ``recipe.allowed_licenses`` (entries may be SPDX ids, families such as
    ``cc-by`` or ``bsd``, or categories such as ``permissive``); with ``recipe.commercial``, a
    non-commercial, no-derivatives or unknown license. Warned: unknown licenses, copyleft, and
    licenses whose commercial use depends on their terms. A source with no rows in
    ``counts_by_source`` (0 or absent) contributes nothing to the output and is only noted.
    """
    warnings: list[str] = []
    problems: list[str] = []
    allowed = list(recipe.allowed_licenses) if recipe.allowed_licenses else None
    for src in recipe.sources:
        if not counts_by_source.get(src.name, 0):
            warnings.append(
                f"source {src.name!r}: no rows in the output; "
                f"its license {src.license or '(none)'} was not checked"
            )
            continue
        info = classify(src.license)
        shown = src.license or "(none)"
        terms = f" (terms: {src.terms})" if src.terms else ""
        if allowed is not None and not _allowed(src.license, allowed):
            problems.append(f"source {src.name!r}: license {shown} is not in allowed_licenses {allowed}")
        elif recipe.commercial and info.commercial is False:
            problems.append(
                f"source {src.name!r}: license {shown} ({info.category}) does not allow commercial use"
            )
        elif recipe.commercial and info.category == "unknown":
            problems.append(
                f"source {src.name!r}: license {shown} is unknown, so commercial use cannot be vouched for"
            )
        if info.category == "unknown":
            warnings.append(
                f"source {src.name!r}: unknown license {shown}; set `license:` to an SPDX id{terms}"
            )
        elif info.category == "copyleft":
            warnings.append(f"source {src.name!r}: {info.spdx} is copyleft ({info.note}){terms}")
        elif info.commercial is None and recipe.commercial:
            warnings.append(f"source {src.name!r}: {info.spdx}: {info.note}{terms}")
    if problems:
        raise LicenseError(
            "license check failed:\n  " + "\n  ".join(problems),
            hint="drop or replace these sources, or change allowed_licenses / commercial in the recipe",
        )
    return warnings


def license_manifest(output_df: pl.DataFrame, recipe: Any | None = None) -> list[dict[str, Any]]:
    """Per source in the output: its license (from ``recipe`` or a ``license`` column), rows, share."""
    specs = {s.name: s for s in recipe.sources} if recipe is not None else {}
    cols = ["source", *(["license"] if "license" in output_df.columns else [])]
    agg = (
        output_df.group_by(cols, maintain_order=True)
        .agg(pl.len().alias("rows"))
        .sort("rows", descending=True)
    )
    total = output_df.height
    out = []
    for r in agg.iter_rows(named=True):
        spec = specs.get(r["source"])
        lic = spec.license if spec is not None and spec.license else r.get("license")
        info = classify(lic)
        out.append(
            {
                "source": r["source"],
                "license": lic,
                "spdx": info.spdx,
                "category": info.category,
                "commercial": info.commercial,
                "terms": spec.terms if spec is not None else None,
                "rows": int(r["rows"]),
                "share": round(r["rows"] / total, 4) if total else 0.0,
            }
        )
    return out
