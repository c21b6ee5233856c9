"""The story's HTML in a real browser: headless Chromium (the Debian package), driven by
Playwright with ``executable_path`` (no browser is ever downloaded). The page must render
without console errors and without a single network request, show the DAG and every node's
section, and keep sensitive values masked. A screenshot is kept in ``test-artifacts/``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NODES = [
    "bronze.raw_customers",
    "bronze.raw_orders",
    "silver.customers",
    "silver.orders",
    "gold.customer_metrics",
    "gold.monthly_revenue",
]


def _chromium() -> str:
    found = os.environ.get("LAKESTORY_CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (apt-get install chromium); CI needs it")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("playwright is not installed (pip install playwright); CI needs it")
        pytest.skip("playwright is not installed")
    return sync_playwright


def test_the_story_renders_offline_in_chromium(tmp_path: Path, cli: Callable[..., Any]) -> None:
    executable, sync_playwright = _chromium(), _playwright()
    root = tmp_path / "demo"
    assert cli("init", str(root)).exit_code == 0
    result = cli("run", str(root / "lakestory.yaml"))
    assert result.exit_code == 0, result.stderr
    [html] = list((root / ".lakestory" / "stories").rglob("*.html"))
    raw_emails = [
        line.split(",")[2].strip().lower()
        for line in (root / "data" / "raw" / "customers.csv").read_text().splitlines()[1:]
        if line.split(",")[2].strip()
    ]

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.as_uri())
            page.wait_for_load_state("load")
            assert page.locator("svg").count() >= 1  # the DAG
            for key in NODES:
                section = page.locator(f'section[id="node-{key}"]')
                assert section.count() == 1, key
                assert page.locator(f'svg a[href="#node-{key}"]').count() == 1, key
            text = page.inner_text("body")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "story.png"), full_page=True)
        finally:
            browser.close()

    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []
    assert "***" in text  # the sensitive emails are masked ...
    assert not [e for e in raw_emails if e and e in text.lower()]  # ... and shown nowhere
