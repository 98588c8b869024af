"""`make demo`: a generated password shown once and kept for its home, HOST and PORT passed
through, a clear message when the port is taken; the package metadata builds without warnings."""

from __future__ import annotations

import importlib.util
import os
import socket
import stat
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest

from furet.catalog.accounts import AccountStore
from furet.errors import AuthenticationError
from furet.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("furet_demo", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _accounts(home: Path) -> AccountStore:
    import furet

    return AccountStore(furet.open(home, Settings(home=home)).catalog.sessions)


def test_the_demo_password_is_random_shown_once_and_stable(tmp_path: Path) -> None:
    demo = _demo()
    home = tmp_path / "demo-home"
    password, new = demo.ensure_demo_account(home)
    assert new and password != "demo-password" and len(password) >= 16
    creds = home / demo.CREDENTIALS
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    accounts = _accounts(home)
    assert accounts.authenticate("demo", password).is_admin
    with pytest.raises(AuthenticationError):
        accounts.authenticate("demo", "demo-password")
    # The next start reuses it (and does not show it again).
    assert demo.ensure_demo_account(home) == (password, False)
    # Another demo home has another password.
    other, _ = demo.ensure_demo_account(tmp_path / "other-home")
    assert other != password
    # The file deleted: a new password, the old one no longer works.
    creds.unlink()
    renewed, new = demo.ensure_demo_account(home)
    assert new and renewed != password
    assert _accounts(home).authenticate("demo", renewed).name == "demo"
    with pytest.raises(AuthenticationError):
        _accounts(home).authenticate("demo", password)


def test_make_demo_passes_host_and_port() -> None:
    out = subprocess.run(
        ["make", "-n", "demo", "PORT=8123", "HOST=0.0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if "scripts/demo.py" in x)
    assert "--host 0.0.0.0 --port 8123" in line


def test_a_taken_port_says_how_to_choose_another(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        out = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "demo.py"),
                "--home",
                str(tmp_path / "h"),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )
    assert out.returncode == 1
    assert f"make demo PORT={port + 1}" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    assert not (tmp_path / "h").exists()  # refused before anything is made


def test_package_metadata_has_no_license_deprecation() -> None:
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_configuration(Distribution(), ROOT / "pyproject.toml")
    about_license = [str(w.message) for w in caught if "license" in str(w.message).lower()]
    assert about_license == []
