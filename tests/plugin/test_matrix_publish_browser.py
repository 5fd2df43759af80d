"""docs/matrix.html in a real headless browser (Debian's chromium and chromedriver, selenium).

Skips only when chromium, chromedriver or selenium is missing (CI installs the
apt packages ``chromium chromium-driver`` and ``pip install selenium``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_matrix_publish import synthetic_report

from pytest_ctxprop._publish_html import COLOURS, css_class, render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ATTACK = (
    '<script>window.__ctxprop_pwned = 1;</script><img src=x onerror="window.__ctxprop_pwned=2">'
)


def _rgba(colour: str) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, 1)"


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        missing = "needs chromium and chromedriver (apt: chromium chromium-driver)"
        if os.environ.get("CTXPROP_REQUIRE_BROWSER"):  # .ci/run installed them: never skip
            pytest.fail(missing)
        pytest.skip(missing)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(tmp_path: Path) -> Path:
    report = synthetic_report(attack=ATTACK)
    path = tmp_path / "matrix.html"
    path.write_text(render_html(report, "ctxprop matrix --all --publish"), encoding="utf-8")
    return path


def _cell(driver: Any, runtime: str, pid: str) -> Any:
    from selenium.webdriver.common.by import By

    for cell in driver.find_elements(By.CSS_SELECTOR, "td.cell"):
        if (cell.get_attribute("data-runtime"), cell.get_attribute("data-property")) == (
            runtime,
            pid,
        ):
            return cell
    raise AssertionError(f"no cell {runtime} {pid}")


def test_cells_are_coloured_by_verdict(browser: Any, page: Path) -> None:
    browser.get(page.as_uri())
    expected = {
        ("stdlib.threadpool", "F1"): "fail",
        ("stdlib.threadpool", "F2"): "pass",
        ("stdlib.threadpool", "F3"): "n/a",
        ("celery.delay", "F1"): "error",
        ("celery.delay+ctxprop", "F1"): "pass",
        ("celery.delay+ctxprop", "F2"): "deviation",
        ("celery.delay+ctxprop", "F3"): "inconclusive",
        ("celery.delay", "F3"): None,
    }
    for (runtime, pid), verdict in expected.items():
        cell = _cell(browser, runtime, pid)
        assert css_class(verdict) in cell.get_attribute("class").split(), (runtime, pid)
        assert cell.value_of_css_property("background-color") == _rgba(COLOURS[verdict]), (
            runtime,
            pid,
            verdict,
        )
    rows = [r.get_attribute("data-runtime") for r in browser.find_elements("css selector", "tr")]
    assert rows[1:] == ["stdlib.threadpool", "celery.delay", "celery.delay+ctxprop"]


def test_hover_and_click_show_the_reason(browser: Any, page: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    detail = browser.find_element(By.ID, "detail-reason")
    title = browser.find_element(By.ID, "detail-title")
    assert detail.text == ""
    ActionChains(browser).move_to_element(_cell(browser, "stdlib.threadpool", "F3")).perform()
    assert detail.text == "no worker start: threads are created on demand"
    _cell(browser, "stdlib.threadpool", "F1").click()
    assert "expected 'a'" in detail.text
    assert "observed <unset>" in detail.text
    assert title.text == "stdlib.threadpool \u00d7 F1: fail"
    # pinned: hovering elsewhere keeps the clicked cell's reason
    ActionChains(browser).move_to_element(_cell(browser, "stdlib.threadpool", "F3")).perform()
    assert "observed <unset>" in detail.text


def test_a_reason_with_markup_is_text_never_run(browser: Any, page: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    assert browser.execute_script("return typeof window.__ctxprop_pwned") == "undefined"
    cell = _cell(browser, "celery.delay", "F1")
    assert cell.get_attribute("data-reason") == f"broker said: {ATTACK}"
    cell.click()
    assert browser.find_element(By.ID, "detail-reason").text == f"broker said: {ATTACK}"
    assert browser.find_elements(By.CSS_SELECTOR, "#detail img, td img, th img") == []
    assert browser.execute_script("return typeof window.__ctxprop_pwned") == "undefined"
    # the row name with markup is text too
    names = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "tbody th")]
    assert names == ["stdlib.threadpool", "celery.delay", "celery.delay+ctxprop"]
