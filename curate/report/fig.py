"""A plotly figure as plain dicts: what ``report.html`` embeds, without importing plotly.

``plotly.graph_objects`` costs ~0.5 s to import and validates every property on construction,
deep-copying the ``plotly_white`` template into each figure (~0.1 s a figure, and ~10 KB of JSON
each). The report only needs the JSON that ``Plotly.newPlot`` takes, so figures are built here as
dicts with the few methods the charts use, and serialized with orjson. ``Fig.figure()`` turns one
into a ``go.Figure`` for a notebook (``Run.plot_*``), where validation costs nothing that matters.

The look of ``plotly_white`` is kept with the handful of layout keys that make it (white
background, light grid, plotly's colours), since plotly.js does not know template names.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

GRID = "#EBF0F8"
_AXIS = {
    "gridcolor": GRID,
    "linecolor": GRID,
    "zerolinecolor": GRID,
    "zerolinewidth": 2,
    "automargin": True,
    "ticks": "",
    "title": {"standoff": 15},
}
WHITE: dict[str, Any] = {
    "paper_bgcolor": "white",
    "plot_bgcolor": "white",
    "font": {"color": "#2a3f5f"},
    "hoverlabel": {"align": "left"},
    "hovermode": "closest",
    "colorway": [
        "#636efa",
        "#EF553B",
        "#00cc96",
        "#ab63fa",
        "#FFA15A",
        "#19d3f3",
        "#FF6692",
        "#B6E880",
        "#FF97FF",
        "#FECB52",
    ],
    "xaxis": dict(_AXIS),
    "yaxis": dict(_AXIS),
}


class Obj(dict):
    """A dict whose keys read as attributes (``trace.x``, ``fig.layout.shapes``), like plotly's objects."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """plotly's "magic underscores": ``{"marker_color": c}`` -> ``{"marker": {"color": c}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *path, last = key.split("_")
        d = out
        for p in path:
            d = d.setdefault(p, {})
        d[last] = value
    return out


def merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    """Deep-merge ``new`` into ``into`` (dicts merge, anything else replaces)."""
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            merge(into[k], v)
        else:
            into[k] = copy.deepcopy(v) if isinstance(v, (dict, list)) else v


class Fig:
    """``data`` (traces) and ``layout`` as dicts, with plotly's figure methods the charts use."""

    def __init__(self, layout: dict[str, Any] | None = None):
        self.data: list[Obj] = []
        self.layout = Obj()
        merge(self.layout, WHITE)
        merge(self.layout, layout or {})

    def _axes(self, prefix: str) -> list[str]:
        found = [
            k for k in self.layout if k == prefix or (k.startswith(prefix) and k[len(prefix) :].isdigit())
        ]
        return found or [prefix]

    def update_layout(self, layout: dict[str, Any] | None = None, **kw: Any) -> Fig:
        merge(self.layout, {**(layout or {}), **nest(kw)})
        return self

    def update_xaxes(self, **kw: Any) -> Fig:
        for ax in self._axes("xaxis"):
            merge(self.layout.setdefault(ax, {}), nest(kw))
        return self

    def update_yaxes(self, **kw: Any) -> Fig:
        for ax in self._axes("yaxis"):
            merge(self.layout.setdefault(ax, {}), nest(kw))
        return self

    def _add(self, kind: str, kw: dict[str, Any]) -> Fig:
        kw = dict(kw)
        row, col = kw.pop("row", None), kw.pop("col", None)
        trace = Obj(type=kind, **nest(kw))
        if col and col > 1:
            trace.update(xaxis=f"x{col}", yaxis=f"y{col}")
        del row
        self.data.append(trace)
        return self

    def add_bar(self, **kw: Any) -> Fig:
        return self._add("bar", kw)

    def add_scatter(self, **kw: Any) -> Fig:
        return self._add("scatter", kw)

    def add_vrect(
        self, *, x0: float, x1: float, fillcolor: str, opacity: float, line_width: float = 0
    ) -> Fig:
        shape = {
            "type": "rect",
            "xref": "x",
            "yref": "y domain",
            "x0": x0,
            "x1": x1,
            "y0": 0,
            "y1": 1,
            "fillcolor": fillcolor,
            "opacity": opacity,
            "line": {"width": line_width},
            "layer": "below",
        }
        self.layout.setdefault("shapes", []).append(shape)
        return self

    def add_vline(
        self,
        *,
        x: float,
        line_dash: str,
        line_color: str,
        annotation_text: str = "",
        annotation_position: str = "top",
    ) -> Fig:
        line = {"dash": line_dash, "color": line_color, "width": 2}
        shape = {
            "type": "line",
            "xref": "x",
            "yref": "y domain",
            "x0": x,
            "x1": x,
            "y0": 0,
            "y1": 1,
            "line": line,
        }
        self.layout.setdefault("shapes", []).append(shape)
        if annotation_text:
            self.layout.setdefault("annotations", []).append(
                {
                    "x": x,
                    "xref": "x",
                    "y": 1,
                    "yref": "y domain",
                    "text": annotation_text,
                    "showarrow": False,
                    "yanchor": "bottom" if annotation_position == "top" else "top",
                }
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"data": [dict(t) for t in self.data], "layout": dict(self.layout)}

    def to_json(self) -> str:
        """JSON for ``Plotly.newPlot``; ``</`` is escaped so a text cannot close the ``<script>``."""
        raw = orjson.dumps(self.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY).decode()
        return raw.replace("</", "<\\/")

    def figure(self) -> Any:
        """The same figure as a ``plotly.graph_objects.Figure`` (for notebooks)."""
        import plotly.graph_objects as go

        return go.Figure(self.to_dict())


def subplots(cols: int, titles: list[str], layout: dict[str, Any]) -> Fig:
    """``make_subplots(rows=1, cols=cols, subplot_titles=titles)`` as plain layout: one x/y axis pair
    per column (plotly's default spacing, 0.2 / cols), each title an annotation above its panel."""
    gap = 0.2 / cols
    width = (1 - gap * (cols - 1)) / cols
    fig = Fig(layout)
    for i in range(cols):
        lo = i * (width + gap)
        sx = "" if i == 0 else str(i + 1)
        fig.layout[f"xaxis{sx}"] = {**copy.deepcopy(_AXIS), "domain": [lo, lo + width], "anchor": f"y{sx}"}
        fig.layout[f"yaxis{sx}"] = {**copy.deepcopy(_AXIS), "domain": [0, 1], "anchor": f"x{sx}"}
        fig.layout.setdefault("annotations", []).append(
            {
                "text": titles[i],
                "x": lo + width / 2,
                "xref": "paper",
                "y": 1,
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 16},
            }
        )
    return fig
