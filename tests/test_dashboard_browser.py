"""The dashboard in a real headless browser (Debian's Chromium driven by playwright), built from hand-made
results (test data, not measurements): the page loads with no console errors, every chart draws marks,
the dropdowns filter what every chart shows, and a screenshot is taken."""

from __future__ import annotations

import pytest

from frameworks.analysis import browser
from frameworks.cli import main

from .helpers import example_store

pytest.importorskip("scipy", reason="the statistics need scipy: pip install scipy")
pytest.importorskip("altair", reason="the dashboard needs altair: pip install 'mnist-framework-bench[dashboard]'")
pytest.importorskip("vl_convert", reason="the dashboard needs vl-convert-python (it inlines the JavaScript)")
if why := browser.unavailable():
    pytest.skip(f"no headless browser: {why}", allow_module_level=True)

SECTIONS = ["comparisons", "throughput", "history", "versions"]


def test_the_dashboard_renders_and_filters_in_a_real_browser(tmp_path, capsys):
    example_store(tmp_path / "store")
    shot = tmp_path / "dashboard.png"
    assert main(["dashboard", str(tmp_path / "store"), "--output", str(tmp_path / "site"),
                 "--screenshot", str(shot)]) == 0
    assert "checked in Chromium" in capsys.readouterr().out
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

    with browser.open_page(tmp_path / "site" / "index.html") as page:
        assert page.sections == SECTIONS
        everything = page.marks()
        assert all(everything[name] > 0 for name in SECTIONS), everything
        assert page.options("network") == ["", "lenet", "mlp_bn"]
        assert page.options("framework") == ["", "keras-tensorflow", "pytorch"]
        assert "mlp_bn" in page.text() and "| pytorch" in page.text()

        page.choose("network", "lenet")
        lenet = page.marks()
        assert all(0 < lenet[name] < everything[name] for name in SECTIONS), (lenet, everything)
        assert "mlp_bn" not in page.text()

        page.choose("framework", "keras-tensorflow")
        keras = page.marks()
        assert all(0 < keras[name] < lenet[name] for name in SECTIONS), (keras, lenet)
        assert "| pytorch" not in page.text() and "| keras-tensorflow" in page.text()  # the rows' labels

        page.choose("network", "")
        page.choose("framework", "")
        assert page.marks() == everything
        page.page.screenshot(path=str(tmp_path / "filtered.png"))
        assert page.errors == []
        assert page.requests == [(tmp_path / "site" / "index.html").resolve().as_uri()]  # nothing else fetched


def test_a_broken_page_is_reported(tmp_path):
    """The check itself: a script error on the page is caught, not missed."""
    (tmp_path / "index.html").write_text("<html><body><div id=charts data-sections=x><svg></svg></div>"
                                         "<script>undefinedFunction()</script></body></html>")
    result = browser.check(tmp_path / "index.html")
    assert any("undefinedFunction" in e for e in result.errors) and result.problems
