"""A 2-D map of the output's texts, coloured by ``cluster``, for the report's clusters section.

The report must not load models (it runs after every run and offline), and the run directory does
not keep the embeddings a clustering stage used, so the map is drawn from the texts themselves:
character 1-3-gram TF-IDF (works on Chinese without a word segmenter) -> TruncatedSVD to 2-D, on a
seeded sample of at most ``MAX_POINTS`` rows. On LawBench queries this representation separates
the 17 tasks about as well as a small neural embedder (NMI 0.64 vs 0.61 for multilingual-e5-small,
shared/DATA.md); the quickstart's 980 output rows take 2.5 s (shared 2-core machine, load ~17).
It is a picture of the clusters, not their input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from curate.fields import field_text
from curate.report.explore import preview

if TYPE_CHECKING:
    from curate.report.fig import Fig

MAX_POINTS = 2000


def coordinates(df: pl.DataFrame, *, label: str = "cluster", seed: int = 0) -> pl.DataFrame:
    """``x``, ``y``, ``label`` and ``preview`` for a sample of ``df`` (rows with a label only)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    rows = df.filter(pl.col(label).is_not_null())
    if rows.height > MAX_POINTS:
        rows = rows.sample(n=MAX_POINTS, seed=seed)
    if rows.height < 3:
        return pl.DataFrame()
    # the question and the answer (not the system prompt, often one template for a whole source),
    # cut to 300 chars: the analyzer is per-document Python, ~linear in characters
    text = pl.concat_str(
        [field_text("first_user").str.slice(0, 150), field_text("last_assistant")], separator=" "
    )
    texts = rows.select(text.str.slice(0, 300).alias("t"))["t"].to_list()
    tfidf = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(1, 3), min_df=2, max_features=50_000, sublinear_tf=True
    )
    try:
        m = tfidf.fit_transform(texts)
    except ValueError:  # empty vocabulary: texts too short or too few
        return pl.DataFrame()
    if m.shape[1] < 3:
        return pl.DataFrame()
    xy = TruncatedSVD(n_components=2, random_state=seed).fit_transform(m)
    return rows.select(pl.col(label).cast(pl.String).alias("label"), preview(chars=120)).with_columns(
        x=pl.Series(xy[:, 0]), y=pl.Series(xy[:, 1])
    )


def scatter(coords: pl.DataFrame, title: str) -> Fig:
    """One trace per label, the row's text on hover."""
    from curate.report.figures import _fig

    fig = _fig(title, height=460, xaxis_title_text="component 1", yaxis_title_text="component 2")
    for (lab,), g in coords.sort("label").group_by("label", maintain_order=True):
        fig.add_scatter(
            x=g["x"].to_list(),
            y=g["y"].to_list(),
            mode="markers",
            name=str(lab)[:40],
            text=g["preview"].to_list(),
            hovertemplate="%{text}<extra>" + str(lab)[:40] + "</extra>",
            marker={"size": 5, "opacity": 0.7},
        )
    return fig
