"""Where chromium is missing, the browser tests install it (root with apt-get) or say how."""

from __future__ import annotations

import pytest

import browser_support


@pytest.fixture
def no_chromium(monkeypatch):
    calls = []
    installed = {"chromium": None}

    def which(name):
        return installed.get(name, f"/usr/bin/{name}")

    def run(command, env):
        calls.append(command)
        if command == browser_support.APT_INSTALL:
            installed["chromium"] = "/usr/bin/chromium"
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(browser_support.shutil, "which", which)
    monkeypatch.setattr(browser_support.subprocess, "run", run)
    return calls


def test_root_with_apt_installs_chromium(no_chromium, monkeypatch):
    monkeypatch.setattr(browser_support.os, "geteuid", lambda: 0)
    assert browser_support.chromium_executable() == "/usr/bin/chromium"
    assert no_chromium == [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]]


def test_others_are_told_the_command(no_chromium, monkeypatch):
    monkeypatch.setattr(browser_support.os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium"):
        browser_support.chromium_executable()
    assert no_chromium == []
