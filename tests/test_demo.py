"""`bridge demo`: the README's first command, run as a user runs it, through the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.cli.demo import demo

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "samples" / "demo" / "expected"
#: The moment the golden files were made at (their coda carries the date). When the sample
#: flow or gestionale/ordini changes, make them again and check them by eye:
#: ``bridge demo --workdir DIR --at 2025-11-08T12:00:00``, then copy DIR/erp/* here.
AT = "2025-11-08T12:00:00"


def settle(before: set[threading.Thread]) -> set[threading.Thread]:
    """Threads started since ``before`` still alive after a short grace period."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        left = {t for t in threading.enumerate() if t not in before and t.is_alive()}
        if not left:
            break
        time.sleep(0.02)
    return left


def test_demo_is_registered_on_the_cli_and_first_in_the_readme() -> None:
    assert main.commands["demo"] is demo
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"```sh\n(.*?)\n```", readme, re.DOTALL)
    assert first is not None and first.group(1).endswith("bridge demo")


def test_demo_writes_the_golden_erp_files(runner: CliRunner, tmp_path: Path) -> None:
    from bridge import spec
    from bridge.codecs import decode
    from bridge.config import SftpConnection, load

    before = set(threading.enumerate())
    work = tmp_path / "demo"
    started = time.monotonic()
    result = runner.invoke(main, ["demo", "--workdir", str(work), "--at", AT])
    took = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert took < 15

    erp = {p.name: p.read_bytes() for p in sorted((work / "erp").iterdir())}
    golden = {p.name: p.read_bytes() for p in sorted(EXPECTED.iterdir())}
    assert erp == golden
    for name in golden:
        if name.endswith(".TXT"):
            back = decode(work / "erp" / name, spec.load("gestionale/ordini"))
            assert back.issues == []
            assert len(back.tables["testata"]) > 0

    out = result.output
    assert f"demo folder: {work}" in out
    assert re.search(r"orders_export_1\.csv\s+│\s+done\s+│\s+1\s+│\s+54\s+│\s+ORD000001\.TXT, "
                     r"ordini_000001\.xml", out)
    # Refused for its three bad values (a price with a comma, a quantity in words, a status
    # Shopify does not have); the b2b columns it lacks are optional.
    assert re.search(r"orders_export_broken\.csv\s+│\s+rejected\s+│\s+3\b", out)
    assert f"HTML report: {work / 'report.html'}" in out
    assert settle(before) == set()

    # The source was the SFTP server, its host key pinned (and so checked) in the config.
    cfg = load(work / "bridge.yaml")
    flow = cfg.flows["ordini"]
    shop = cfg.connection(flow.source.connection)
    assert isinstance(shop, SftpConnection)
    assert shop.host == "127.0.0.1" and not shop.insecure_skip_host_key_check
    assert shop.host_key_fingerprint is not None
    assert f"host key {shop.host_key_fingerprint}" in out
    # The server's folder after the run: the good export archived, the bad one quarantined
    # with the report that bridge wrote for it.
    served = work / "sftp"
    assert list((served / "archive").rglob("orders_export_1.csv"))
    assert (served / "quarantine" / "orders_export_broken.csv").is_file()
    assert (served / "quarantine" / "orders_export_broken.csv.report.html").is_file()
    assert not list((served / flow.source.folder).iterdir())

    html = (work / "report.html").read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]+)"', html)
    assert "erp/ORD000001.TXT" in links
    report_links = [h for h in links if h.endswith("orders_export_broken.csv.report.html")]
    assert report_links and all((work / h).is_file() for h in report_links)


def test_html_report_escapes_what_comes_from_files(tmp_path: Path) -> None:
    from bridge.demo import DemoResult, write_html
    from bridge.engine.context import Outcome

    result = DemoResult(tmp_path, tmp_path / "bridge.yaml", "127.0.0.1:2222", "SHA256:x")
    result.outcomes = [Outcome("ordini", "<script>alert(1)</script>.csv", "rejected", 7, 2,
                               message="a & b", report="quarantine/x.report.html")]
    html = write_html(result).read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in html and "a &amp; b" in html
    # No local copy of the per-file report: no dead link to it.
    assert "x.report.html" not in html


def test_demo_without_workdir_uses_a_new_temporary_folder(runner: CliRunner, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = runner.invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    found = re.search(r"demo folder: (\S+)", result.output)
    assert found is not None
    work = Path(found.group(1))
    assert work.parent == tmp_path and work.name.startswith("bridge-demo-")
    assert list((work / "erp").glob("*.TXT"))


#: A child process where cryptography's DSA types warn as cryptography 51 makes them warn
#: (whatever version is installed): when named outside cryptography itself. Every warning
#: is an error; then IMPORT.
DSA_WARNS = '''
import sys, types, warnings
warnings.simplefilter("error")
import cryptography.hazmat.primitives.asymmetric as asymmetric
from cryptography.hazmat.primitives.asymmetric import dsa
from cryptography.utils import CryptographyDeprecationWarning


class Deprecated(types.ModuleType):
    def __getattr__(self, name):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if name.startswith("DSA") and not caller.startswith("cryptography"):
            warnings.warn("DSA is deprecated and support will be removed in a future "
                          "release.", CryptographyDeprecationWarning, stacklevel=2)
        return getattr(dsa, name)


sys.modules[dsa.__name__] = asymmetric.dsa = Deprecated(dsa.__name__)
IMPORT
print("imported")
'''


@pytest.mark.parametrize(("module", "quiet"), [("bridge.sftpserver", True), ("asyncssh", False)])
def test_the_demo_server_says_nothing_of_cryptographys_dsa_deprecation(module: str,
                                                                       quiet: bool) -> None:
    """asyncssh names the DSA types as it is imported: with cryptography 51 `bridge demo`
    printed ten lines of warnings before its own. The demo's server imports asyncssh with
    that one warning silenced; asyncssh imported bare still warns (the shim is faithful)."""
    got = subprocess.run([sys.executable, "-c", DSA_WARNS.replace("IMPORT", f"import {module}")],
                         capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    if quiet:
        assert (got.returncode, got.stdout, got.stderr) == (0, "imported\n", "")
    else:
        assert got.returncode != 0 and "DSA is deprecated" in got.stderr


def test_a_second_demo_in_the_same_folder_is_refused_and_the_first_goes_on(
        runner: CliRunner, tmp_path: Path) -> None:
    """Two demos in one folder: the second rewrote bridge.yaml with its own server's port,
    and the first, reading it, went to that server (stopped by then) and failed with
    "connection refused" after five tries."""
    work = tmp_path / "demo"
    first = subprocess.Popen([sys.executable, "-m", "bridge", "demo", "--workdir", str(work)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None
        seen = ""
        while "shop exports in sftp://" not in seen:  # its server is up, its files put
            line = first.stdout.readline()
            assert line, seen + first.stderr.read() if first.stderr else seen
            seen += line
        deadline = time.monotonic() + 10  # and its configuration written, just after
        while not (work / "bridge.yaml").exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.1)
        config = (work / "bridge.yaml").read_bytes()
        second = runner.invoke(main, ["demo", "--workdir", str(work)])
        assert second.exit_code == 3, second.output
        assert f"another bridge demo is running in {work}" in second.output
        assert (work / "bridge.yaml").read_bytes() == config  # the first's, untouched
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, seen + out + err
    assert "orders_export_1.csv: done" in seen + out and "error" not in err
    # once the first has ended, the folder is free again
    again = runner.invoke(main, ["demo", "--workdir", str(work)])
    assert again.exit_code == 0 and "orders_export_1.csv: duplicate" in again.output
