"""Open an HTML file in Debian's headless Chromium (driven by playwright over CDP; no browser download).

Used by the report test and to take the README screenshot:
    python tests/report/chromium.py runs/quickstart/report.html docs/report.png
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Page:
    console_errors: list[str] = field(default_factory=list)
    charts: int = 0
    drawn: list[int] = field(default_factory=list)  # SVG nodes plotly drew, per chart
    sections: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    chart_shots: list[bytes] = field(default_factory=list)


def open_page(
    html: Path,
    *,
    screenshot: Path | None = None,
    full_page: bool = False,
    width: int = 1200,
    height: int = 900,
) -> Page:
    """Load ``html`` from disk with the network blocked; collect console errors and what was drawn."""
    from playwright.sync_api import sync_playwright

    out = Page()
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            headless=True,
            args=ARGS,
            viewport={"width": width, "height": height},
        )
        ctx.route("http*://**", lambda r: r.abort())  # the report must need nothing from the network
        page = ctx.new_page()
        page.on("console", lambda m: out.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: out.console_errors.append(str(exc)))
        page.goto(html.resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        out.charts = page.locator("div.chart").count()
        out.drawn = page.eval_on_selector_all(
            "div.chart",
            "els => els.map(e => e.querySelectorAll('svg.main-svg path, svg.main-svg rect').length)",
        )
        out.sections = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
        for i in range(min(out.charts, 40)):
            out.chart_shots.append(page.locator("div.chart").nth(i).screenshot())
        out.screenshot = page.screenshot(full_page=full_page)
        if screenshot:
            screenshot.write_bytes(out.screenshot)
        ctx.close()
    return out


if __name__ == "__main__":
    res = open_page(Path(sys.argv[1]), screenshot=Path(sys.argv[2]) if len(sys.argv) > 2 else None)
    print(f"charts {res.charts}, drawn {res.drawn}, errors {res.console_errors}, sections {res.sections}")
