"""Shared test set-up: never touch the network or the user's caches."""

import os
import shutil
from pathlib import Path

import pytest

# Without this, a Hub call that cannot succeed here hangs for about 47 s before failing.
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session", autouse=True)
def isolated_caches(tmp_path_factory):
    """One cache root per test session (the mini benchmark is generated once into
    it), and a private Hugging Face home, for this process and its subprocesses."""
    root = tmp_path_factory.mktemp("caches")
    saved = {key: os.environ.get(key) for key in ("XDG_CACHE_HOME", "HF_HOME", "MARS_ZOO_CACHE")}
    os.environ["XDG_CACHE_HOME"] = str(root / "xdg")
    os.environ["HF_HOME"] = str(root / "hf")
    os.environ.pop("MARS_ZOO_CACHE", None)
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def mini_dir(isolated_caches):
    """The generated mini benchmark (`open_benchmark("mini")` reads this same copy)."""
    from mars_zoo.core.folders import default_cache_dir
    from mars_zoo.data.mini import ensure_mini

    return ensure_mini(default_cache_dir())


@pytest.fixture(scope="session")
def mini_run(mini_dir, tmp_path_factory):
    """One full mini run of `openclip/tiny-random` (seed 0, no embedding cache) as its result:
    for the tests that read a whole result file, so the session runs it once."""
    from mars_zoo.models.registry import load_registry
    from mars_zoo.core.reporting import Reporter
    from mars_zoo.pipeline.runner import RunConfig, run

    out = tmp_path_factory.mktemp("mini-run") / "result.json"
    config = RunConfig(model="openclip/tiny-random", out=out, benchmark="mini", device="cpu",
                       workers=0, cache_dir=mini_dir.parent, no_cache=True)
    return run(config, load_registry(), Reporter())[0]


@pytest.fixture
def plugins_dir(tmp_path):
    """A --plugins-dir folder holding the fake models plugin (tests/fake_models.py)."""
    directory = tmp_path / "plugins"
    directory.mkdir()
    shutil.copy(Path(__file__).parent / "fake_models.py", directory / "fake_models.py")
    return directory


@pytest.fixture(scope="session")
def browser():
    """One headless Debian chromium for the whole session (Playwright imported only here)."""
    from playwright.sync_api import sync_playwright

    from browser_support import CHROMIUM_ARGS, chromium_executable

    executable = chromium_executable()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    """Makes browser contexts that may reach only a local prefix (see `local_only_context`);
    closes them after the test."""
    from browser_support import local_only_context

    made = []

    def make(local_prefix: str, **options):
        made.append(local_only_context(browser, local_prefix, **options))
        return made[-1]

    yield make
    for ctx in made:
        ctx.close()


@pytest.fixture(scope="session")
def artifacts(request):
    """Where browser tests put their screenshots (printed once, so a reader can find them)."""
    from browser_support import screenshots_dir

    folder = screenshots_dir()
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nscreenshots: {folder}")
    return folder
