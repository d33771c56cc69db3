"""The operations kit under deploy/: systemd units that systemd itself accepts, a cron line
and units that call bridge by a name no other package installs, and a logrotate rule for the
log bridge writes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = ["bridge-watch.service", "bridge-run.service", "bridge-run.timer"]
INSTALLED = "/opt/bridge/.venv/bin/bridge-erp"


def test_every_command_line_calls_bridge_erp_by_its_full_path() -> None:
    for path in [*(DEPLOY / "systemd").glob("*.service"), DEPLOY / "bridge.cron"]:
        text = path.read_text(encoding="utf-8")
        commands = [ln for ln in text.splitlines() if ln.startswith("ExecStart=")
                    or re.match(r"^[*0-9/,-]+ ", ln)]
        assert commands, path.name
        for line in commands:
            # the command itself: after `ExecStart=`, or after cron's five times and user
            command = line.split("=", 1)[1] if line.startswith("ExecStart=") \
                else line.split(None, 6)[6]
            assert INSTALLED in command, (path.name, line)
            assert not re.search(r"(^|[\s=;&|])bridge\s", command), (path.name, line)
    cron = (DEPLOY / "bridge.cron").read_text(encoding="utf-8")
    assert "run --quiet" in cron
    watch = (DEPLOY / "systemd" / "bridge-watch.service").read_text(encoding="utf-8")
    assert "RestartPreventExitStatus=2" in watch and "KillSignal=SIGTERM" in watch


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed here")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """`systemd-analyze verify` on the units, their ExecStart pointed at this test's own
    bridge-erp (systemd checks that the command exists); a broken copy is refused."""
    here = Path(sys.executable).parent / "bridge-erp"
    assert here.exists()
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(INSTALLED, str(here)), encoding="utf-8")
    got = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in UNITS)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert got.returncode == 0, got.stdout + got.stderr
    broken = (tmp_path / "bridge-run.service").read_text(encoding="utf-8").replace(
        str(here), "/nonexistent/bridge-erp")
    (tmp_path / "broken.service").write_text(broken, encoding="utf-8")
    refused = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "broken.service")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0


def test_logrotate_rotates_the_log_bridge_writes() -> None:
    from bridge.config import Config

    rule = (DEPLOY / "logrotate" / "bridge").read_text(encoding="utf-8")
    default = Config.model_fields["ledger"].default
    assert f"/srv/bridge/{Path(default).parent}/bridge.log {{" in rule
    assert "copytruncate" not in rule.split("{", 1)[1]  # bridge reopens a moved log
    assert "create 0600" in rule


def test_the_operations_page_names_every_file_of_the_kit() -> None:
    page = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            assert f"deploy/{path.relative_to(DEPLOY)}" in page or path.name in page, path
