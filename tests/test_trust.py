"""`bridge connections trust`: a changed host key is replaced only with `--replace`.

The attack: a man in the middle answers for a known SFTP server with a key of his own, and
a script runs `bridge connections trust NAME --yes` (as it does for new servers).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bridge.cli import main
from bridge.sftpserver import SftpServer


@pytest.fixture
def impostor(tmp_path: Path) -> Iterator[SftpServer]:
    with SftpServer(tmp_path / "root", user="shop") as srv:
        yield srv


def config(tmp_path: Path, server: SftpServer, known: Path) -> Path:
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(yaml.safe_dump({
        "connections": {"shop": {"type": "sftp", "host": server.host, "port": server.port,
                                 "user": "shop", "known_hosts": str(known)}},
        "flows": {"f": {"source": {"connection": "shop", "folder": "in"}, "tracciato": "x/y",
                        "targets": [{"folder": "out", "filename": "x"}]}},
    }), encoding="utf-8")
    return cfg


def test_yes_alone_never_replaces_a_changed_key(tmp_path: Path, impostor: SftpServer,
                                                runner: CliRunner) -> None:
    # On record: the real server's key, for the address the impostor now answers on.
    real = SftpServer(tmp_path / "elsewhere")  # never started: only its key is needed
    known = tmp_path / "known_hosts"
    host_id, key = impostor.known_hosts_line().split(" ", 1)[0], real.known_hosts_line()
    on_record = f"{host_id} {key.split(' ', 1)[1]}"
    known.write_text(on_record, encoding="ascii")
    cfg = config(tmp_path, impostor, known)

    for answer in ([], ["--yes"]):
        result = runner.invoke(main, ["-c", str(cfg), "connections", "trust", "shop", *answer],
                               input="y\n")
        assert result.exit_code == 1, result.output
        assert "NOT the key on record" in result.output
        assert "--replace" in result.output and "nothing written" in result.output
        assert known.read_text(encoding="ascii") == on_record

    replaced = runner.invoke(main, ["-c", str(cfg), "connections", "trust", "shop", "--yes",
                                    "--replace"])
    assert replaced.exit_code == 0, replaced.output
    assert known.read_text(encoding="ascii") == impostor.known_hosts_line()


def test_yes_still_trusts_a_new_server(tmp_path: Path, impostor: SftpServer,
                                       runner: CliRunner) -> None:
    known = tmp_path / "known_hosts"
    cfg = config(tmp_path, impostor, known)
    result = runner.invoke(main, ["-c", str(cfg), "connections", "trust", "shop", "--yes"])
    assert result.exit_code == 0, result.output
    assert known.read_text(encoding="ascii") == impostor.known_hosts_line()
