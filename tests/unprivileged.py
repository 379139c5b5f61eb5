"""Python snippets run where file modes count: root writes anywhere, so as root the snippet
runs without the capabilities that override them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_AS_A_USER = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"] \
    if os.geteuid() == 0 else []


def run_as_a_user(code: str) -> subprocess.CompletedProcess:
    """``python -c code`` without root's override of file modes; its output captured."""
    return subprocess.run([*_AS_A_USER, sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=60)


def skip_unless_modes_count(scratch: Path) -> None:
    """Skips the test where a snippet would still write a read-only folder (no setpriv, or
    a root that lacks CAP_SETPCAP and so cannot drop the override)."""
    if not _AS_A_USER:
        return
    probe = scratch / "read-only-probe"
    probe.mkdir(mode=0o555)
    if not shutil.which("setpriv") or run_as_a_user(
        f"import os, sys; sys.exit(os.access({str(probe)!r}, os.W_OK))"
    ).returncode != 0:
        pytest.skip("root here cannot drop its override of file modes (setpriv, CAP_SETPCAP)")


def config_error_of(code: str) -> str:
    """The one-line ConfigError the snippet ``code`` ends with, run as a user."""
    done = run_as_a_user(code)
    assert done.returncode == 1, done.stderr
    name, _, message = done.stderr.strip().splitlines()[-1].partition(": ")
    assert name == "rnnaudio.config.checks.ConfigError", done.stderr
    return message
