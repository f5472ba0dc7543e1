"""What every browser test shares: Debian's chromium driven by Playwright, contexts that
may reach only local pages, page visits that record console errors and dialogs, and the
folder screenshots go to. The fixtures built on these live in conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class Visit:
    url: str
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    xss: object = None
    links: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    charts: dict = field(default_factory=dict)
    focus: tuple = ()  # (focusable elements, elements focused, problems) of a walk with Tab and Shift+Tab


APT_INSTALL = ["apt-get", "install", "-y", "-qq", "chromium"]


def chromium_executable() -> str:
    """Debian's chromium; where it is missing and this is root on a machine with apt-get (a
    fresh container, CI), it is installed first, so the README's one test command works there.
    Anywhere else the tests fail with the command that installs it."""
    executable = shutil.which("chromium")
    if executable is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("\nchromium is missing: installing it with apt-get (the browser tests need it)", flush=True)
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        updated = subprocess.run(["apt-get", "update", "-qq"], env=environment).returncode == 0
        if updated and subprocess.run(APT_INSTALL, env=environment).returncode == 0:
            executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Chromium is not installed, and the browser tests need it: install Debian's chromium "
                    "(sudo apt-get update && sudo apt-get install -y chromium) so that 'chromium' is on "
                    "PATH, then run the tests again.", pytrace=False)
    return executable


def screenshots_dir() -> Path:
    folder = Path(os.environ.get("MARS_ZOO_ARTIFACTS", REPO / "test-artifacts")) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def local_only_context(browser, local_prefix: str, **options):
    """A browser context whose requests may reach only URLs starting with `local_prefix`;
    anything else is aborted and recorded in `context.outside`."""
    ctx = browser.new_context(**options)
    ctx.outside = []

    def route(route):
        if route.request.url.startswith(local_prefix):
            route.continue_()
        else:
            ctx.outside.append(route.request.url)
            route.abort()

    ctx.route("**/*", route)
    return ctx


def open_page(ctx, url: str) -> tuple[object, Visit]:
    visit = Visit(url)
    page = ctx.new_page()
    page.on("console", lambda message: message.type == "error" and visit.console_errors.append(message.text))
    page.on("pageerror", lambda error: visit.console_errors.append(str(error)))

    def dialog(d):
        visit.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.goto(url, wait_until="load")
    return page, visit


def axe_source() -> str:
    """axe-core as shipped inside the axe-playwright-python wheel (the test extra)."""
    from importlib import resources

    return resources.files("axe_playwright_python").joinpath("axe.min.js").read_text("utf-8")
