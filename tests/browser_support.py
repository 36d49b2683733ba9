"""Open a local HTML page in Debian's headless chromium with the network cut off."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

LOCAL = ("file:", "data:", "about:", "blob:")


def open_offline(path: Path) -> dict:
    """Load ``path`` with every non-local request aborted; what the page shows.

    Returns ``maps`` (Leaflet containers), ``shapes`` (drawn vector paths), ``broken``
    (images that did not load), ``leaving`` (requests that tried to leave the machine)
    and ``problems`` (console errors and warnings, page errors, failed requests).
    Skips the test where chromium is not installed.
    """
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page()
            page.on(
                "console",
                lambda m: m.type in ("error", "warning") and problems.append(f"{m.type}: {m.text}"),
            )
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url[:80]}"))

            def route(r):
                requests.append(r.request.url)
                r.continue_() if r.request.url.startswith(LOCAL) else r.abort()

            page.route("**/*", route)
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_timeout(500)
            maps = page.evaluate("document.querySelectorAll('.leaflet-container').length")
            shapes = page.evaluate("document.querySelectorAll('.leaflet-overlay-pane path').length")
            broken = page.evaluate(
                "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length"
            )
        finally:
            browser.close()
    leaving = [u for u in requests if not u.startswith(LOCAL)]
    return {
        "maps": maps,
        "shapes": shapes,
        "broken": broken,
        "leaving": leaving,
        "problems": problems,
    }
