"""A built dashboard opened in a real headless browser (Debian's Chromium, driven by playwright's Python
package): its console errors, the marks each chart drew, its dropdowns, and a screenshot. Used by
``dashboard --screenshot`` and by the browser test, so both check the page the same way.

playwright's own browser download is never used: it drives the Chromium installed on the machine
(``scripts/setup.sh`` installs Debian's; ``MFB_CHROMIUM`` names another).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BenchError

CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
LOAD_TIMEOUT_MS = 60_000
RENDER_WAIT_MS = 400  # the charts re-render asynchronously after a dropdown changes

# Data marks drawn per chart: each top-level chart is a Vega group "concat_<i>_group"; its data marks are the
# items of the groups with the role "mark" (axes, legends and titles have other roles).
_COUNT_MARKS = """() => Array.from(document.querySelectorAll('#charts svg g.role-scope'))
  .filter(g => /^concat_\\d+_group$/.test(g.classList[g.classList.length - 1]))
  .map(g => g.querySelectorAll('.role-mark > path, .role-mark > line, .role-mark > text, .role-mark > rect').length)"""


class BrowserUnavailable(BenchError):
    """No headless browser here (playwright or Chromium missing)."""


def chromium() -> str | None:
    """The Chromium to drive: ``$MFB_CHROMIUM``, else the first on the PATH."""
    given = os.environ.get("MFB_CHROMIUM")
    if given:
        return given if os.access(given, os.X_OK) else None
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def unavailable() -> str | None:
    """Why no page can be opened here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install 'mnist-framework-bench[browser]')"
    if chromium() is None:
        return ("no Chromium found (apt-get install chromium, which scripts/setup.sh does as root; or set "
                "MFB_CHROMIUM to a Chromium or Chrome binary)")
    return None


@dataclass
class OpenPage:
    """A dashboard open in the browser, and what its console said."""

    page: Any  # playwright's Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for

    @property
    def sections(self) -> list[str]:
        names = self.page.get_attribute("#charts", "data-sections") or ""
        return [n for n in names.split(",") if n]

    def marks(self) -> dict[str, int]:
        """Data marks drawn by each chart, by section name."""
        counts = self.page.evaluate(_COUNT_MARKS)
        return dict(zip(self.sections, counts, strict=False))

    def options(self, name: str) -> list[str]:
        """The values a dropdown offers ("" is "all")."""
        return self.page.eval_on_selector(f"#filters select[name=filter_{name}]",
                                          "s => Array.from(s.options).map(o => o.value)")

    def choose(self, name: str, value: str) -> None:
        """Pick ``value`` in a filter dropdown and wait for the charts to redraw."""
        self.page.select_option(f"#filters select[name=filter_{name}]", value)
        self.page.wait_for_timeout(RENDER_WAIT_MS)

    def text(self) -> str:
        """The charts' text (labels, headers, legends)."""
        return self.page.eval_on_selector("#charts svg", "svg => svg.textContent")


@contextmanager
def open_page(index: str | os.PathLike, width: int = 1400, height: int = 1000) -> Iterator[OpenPage]:
    """Open ``index`` from the file system in headless Chromium and wait until the charts are drawn."""
    why = unavailable()
    if why:
        raise BrowserUnavailable(why)
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=chromium(), args=list(CHROMIUM_ARGS))
        except Error as exc:
            raise BrowserUnavailable(f"Chromium did not start: {str(exc).splitlines()[0]}") from None
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            opened = OpenPage(page)
            page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: opened.errors.append(f"uncaught: {exc}"))
            page.on("request", lambda request: opened.requests.append(request.url))
            page.goto(Path(index).resolve().as_uri())
            if page.query_selector("#charts") is not None:
                page.wait_for_selector("#charts svg", timeout=LOAD_TIMEOUT_MS)
            yield opened
        finally:
            browser.close()


@dataclass
class Check:
    """What a check of the page found."""

    browser: str
    marks: dict[str, int]
    errors: list[str]
    fetched: list[str]  # what the page asked for beyond its own file (nothing, for a page that works offline)

    @property
    def problems(self) -> list[str]:
        empty = [f"the {name} chart drew nothing" for name, count in self.marks.items() if count == 0]
        remote = [f"the page fetched {url} (it must work offline)" for url in self.fetched]
        return [f"console: {e}" for e in self.errors] + empty + remote


def check(index: str | os.PathLike, screenshot: str | os.PathLike | None = None) -> Check:
    """Open the page, count each chart's marks, collect console errors, and save a full-page screenshot."""
    from ..fileio import atomic_path

    with open_page(index) as opened:
        marks = opened.marks()
        if screenshot is not None:
            with atomic_path(screenshot, suffix=".png") as tmp:
                opened.page.screenshot(path=str(tmp), full_page=True)
        version = opened.page.context.browser.version
        own = Path(index).resolve().as_uri()
        return Check(f"Chromium {version}", marks, list(opened.errors), [u for u in opened.requests if u != own])
