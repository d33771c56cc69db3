"""A real install: the wheel is built, installed in a fresh virtualenv outside the
repository, and run from another folder, as a user who never saw the source tree would.

The new virtualenv gets the wheel alone (``--no-deps``); its dependencies come from this
test's own environment through a path file, so the test needs no network, and the bridge
it runs is the wheel's (the checkout's editable hook is a path file that the new
environment never reads).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

EXPECTED = ROOT / "samples" / "demo" / "expected"
AT = "2025-11-08T12:00:00"  # the moment of the demo's golden files (tests/test_demo.py)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh virtualenv holding the wheel built from this checkout."""
    base = tmp_path_factory.mktemp("install")
    wheels = base / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-q", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("bridge-*.whl"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--no-index", "--disable-pip-version-check", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                              "get_paths()['purelib'])"], check=True, capture_output=True,
                             text=True).stdout.strip()
    Path(purelib, "deps-of-the-test.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return venv / "bin"


def run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BRIDGE_TRACCIATI")}
    return subprocess.run([str(bin_dir / "bridge-erp"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_wheel_carries_the_shipped_layouts_samples_and_templates(installed: Path) -> None:
    wheel = next(installed.parent.parent.glob("wheels/bridge-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (ROOT / "tracciati").rglob("*.yaml"):
        assert f"bridge/_shipped/tracciati/{path.relative_to(ROOT / 'tracciati')}" in names
    for path in (ROOT / "samples").rglob("*"):
        if path.is_file():
            assert f"bridge/_shipped/samples/{path.relative_to(ROOT / 'samples')}" in names
    assert "bridge/templates/report.html" in names


def test_the_installed_commands_find_what_is_shipped(installed: Path,
                                                     tmp_path: Path) -> None:
    listed = run(installed, tmp_path, "tracciati", "list")
    assert listed.returncode == 0, listed.stderr
    shipped = sorted(f"{p.parent.name}/{p.stem}" for p in (ROOT / "tracciati").glob("*/*.y*ml"))
    assert sorted(ln.split()[0] for ln in listed.stdout.splitlines()) == shipped
    where = run(installed, tmp_path, "tracciati", "path", "gestionale/ordini")
    path = Path(where.stdout.strip())
    assert where.returncode == 0 and path.is_file(), where.stderr
    assert installed.parent in path.parents  # inside the virtualenv, not the checkout
    assert path.read_bytes() == (ROOT / "tracciati" / "gestionale" / "ordini.yaml").read_bytes()
    shown = run(installed, tmp_path, "tracciati", "show", "gestionale/ordini")
    assert shown.returncode == 0 and "testata" in shown.stdout, shown.stderr
    both = run(installed, tmp_path, "--help")
    assert both.returncode == 0 and (installed / "bridge").exists()


def test_the_installed_demo_writes_the_golden_files(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "demo"
    got = run(installed, tmp_path, "demo", "--workdir", str(work), "--at", AT)
    assert got.returncode == 0, got.stdout + got.stderr
    for expected in EXPECTED.iterdir():
        written = next(work.joinpath("erp").rglob(expected.name))
        assert written.read_bytes() == expected.read_bytes(), expected.name
