"""Operations: what a person running bridge from cron or systemd needs to be told.

A source folder that does not exist is an error, never an idle "nothing to do": exit 2 for
a local folder (the configuration is wrong), 3 for a remote one (the server lost it, or the
configuration is wrong: retried, and reported on every pass)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.flowkit import CONFIG, bridge_cli, make_world, order_file, sftp_connection


def test_a_missing_local_source_folder_is_a_configuration_error(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    shutil.rmtree(tmp_path / "inbox")
    got = bridge_cli(cfg, "run")
    assert got.returncode == 2, got.stdout + got.stderr
    assert "nothing to do" not in got.stdout
    assert f"the source folder '{tmp_path / 'inbox'}' does not exist" in got.stderr
    (tmp_path / "inbox").mkdir()  # made: an empty folder is an idle pass again
    idle = bridge_cli(cfg, "run")
    assert (idle.returncode, idle.stdout.strip()) == (0, "nothing to do")
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert "a.csv: done" in bridge_cli(cfg, "run").stdout


def test_a_missing_remote_source_folder_fails_the_flow_not_the_others(tmp_path: Path) -> None:
    from bridge.sftpserver import SftpServer

    cfg = make_world(tmp_path)
    (tmp_path / "shop").mkdir()
    with SftpServer(tmp_path / "shop", user="shop") as server:
        conn = sftp_connection(server, tmp_path)
        remote = CONFIG.split("flows:\n", 1)[1].replace("articoli:", "remoti:", 1).replace(
            "      folder: inbox", "      connection: shop\n      folder: inbxo")
        text = CONFIG.replace("flows:", f"connections:\n  shop: {json.dumps(conn)}\nflows:")
        cfg.write_text(text + remote.replace("ART{{", "REM{{"), encoding="utf-8")
        (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
        got = bridge_cli(cfg, "run")
    assert got.returncode == 3, got.stdout + got.stderr
    assert "remoti: the source folder 'inbxo' does not exist on connection 'shop'" in got.stderr
    assert "[articoli] a.csv: done" in got.stdout  # the local flow went on


def test_read_only_commands_start_without_connection_secrets(tmp_path: Path) -> None:
    """status, pending, show, history and report never connect: they start without the
    password's variable; run, which connects, still refuses to, naming the variable."""
    import os

    cfg = make_world(tmp_path)
    conn = ('connections:\n  shop: {type: sftp, host: 127.0.0.1, port: 9, user: shop, '
            'password: "${BRIDGE_TEST_SHOP_PASSWORD}", key_passphrase: "${BRIDGE_TEST_KP}"}\n')
    cfg.write_text(conn + CONFIG.replace("      folder: inbox",
                                         "      connection: shop\n      folder: inbox"),
                   encoding="utf-8")
    assert "BRIDGE_TEST_SHOP_PASSWORD" not in os.environ
    for command in (["status"], ["pending"], ["history"], ["show", "1"], ["report"]):
        got = bridge_cli(cfg, *command)
        assert "BRIDGE_TEST_SHOP_PASSWORD" not in got.stderr, (command, got.stderr)
        assert got.returncode in (0, 2) and "is not set" not in got.stderr, command
    assert bridge_cli(cfg, "status").stdout.splitlines()[1].split()[0] == "articoli"
    run = bridge_cli(cfg, "run")
    assert run.returncode == 2
    assert "environment variable BRIDGE_TEST_SHOP_PASSWORD is not set" in run.stderr


def test_a_secret_that_is_set_is_still_read_by_read_only_commands(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.config import load

    cfg = make_world(tmp_path)
    cfg.write_text('connections:\n  shop: {type: sftp, host: h, user: u, '
                   'password: "${BRIDGE_TEST_SET}"}\n' + CONFIG, encoding="utf-8")
    monkeypatch.setenv("BRIDGE_TEST_SET", "s3cret")
    shop = load(cfg, secrets=False).connections["shop"]
    assert shop.password is not None and shop.password.get_secret_value() == "s3cret"
    monkeypatch.delenv("BRIDGE_TEST_SET")
    assert load(cfg, secrets=False).connections["shop"].password is None  # unset: left out


def test_status_in_json_for_monitoring(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    bad = order_file(2).replace("2,05", "2,0x")
    (tmp_path / "inbox" / "b.csv").write_text(bad, encoding="utf-8")
    assert bridge_cli(cfg, "run").returncode == 1
    got = bridge_cli(cfg, "status", "--format", "json")
    assert got.returncode == 0, got.stderr
    [flow] = json.loads(got.stdout)["flows"]
    when = flow.pop("last_success")
    assert flow.pop("attention") == ["1 rejected since the last `bridge ack`"]
    assert flow == {"flow": "articoli", "waiting": 0, "held": 0, "rejected": 1, "failed": 0}
    assert when.endswith("+00:00") and when[:4].isdigit()
    text = bridge_cli(cfg, "status").stdout.splitlines()
    assert text[1].split()[:5] == ["articoli", "0", "0", "1", "0"]


def test_global_options_after_the_sub_command_and_the_configs_tracciati(tmp_path: Path) -> None:
    """`bridge check FILE -t T --tracciati DIR` works as before the sub-command does; and
    layout commands search the configuration's `tracciati:` list, as `run` does."""
    cfg = make_world(tmp_path)
    src = tmp_path / "inbox" / "a.csv"
    src.write_text(order_file(1), encoding="utf-8")
    after = bridge_cli(cfg, "check", str(src), "-t", "test/in", "--tracciati",
                       str(tmp_path / "tracciati"))
    assert after.returncode == 0 and "clean" in after.stdout, after.stdout + after.stderr
    # the config's own list (tracciati: [tracciati] in bridge.yaml), given after the command
    for args in (["check", str(src), "-t", "test/in"], ["tracciati", "show", "test/out"],
                 ["tracciati", "path", "test/in"]):
        got = bridge_cli(cfg, *args)  # bridge_cli puts --config first
        assert got.returncode == 0, (args, got.stderr)
    moved = subprocess.run([sys.executable, "-m", "bridge", "tracciati", "path", "test/in",
                            "--config", str(cfg)], capture_output=True, text=True,
                           timeout=60, check=False, cwd=tmp_path.parent)
    assert moved.stdout.strip() == str(tmp_path / "tracciati" / "test" / "in.yaml")
    # A value that looks like an option after `--` is left alone.
    literal = subprocess.run([sys.executable, "-m", "bridge", "check", "-t", "test/in",
                              "--", "--config"], capture_output=True, text=True,
                             timeout=60, check=False, cwd=tmp_path)
    assert literal.returncode == 2 and "'--config'" in literal.stderr


def test_a_reader_that_stops_early_is_not_an_internal_error(tmp_path: Path) -> None:
    """`bridge tracciati list | head`: when the reader of the output has gone, bridge stops
    as a program killed by SIGPIPE does (141), without an internal error."""
    cfg = make_world(tmp_path)
    for args in (["tracciati", "list"], ["codes"], ["tracciati", "schema"], ["status"],
                 ["check", str(cfg), "-t", "test/in"]):
        child = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg),
                                  *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()  # gone before the first line is written
        err = child.stderr.read().decode()
        child.stderr.close()
        assert child.wait(timeout=60) == 141, (args, err)
        assert "internal error" not in err and "Traceback" not in err


def broken_samples(root: Path) -> Path:
    """A copy of the samples with four mistakes, one per flow: a misspelt field in a step
    (articoli), a missing tracciato (clienti), a template that does not compile (ordini), a
    source folder that does not exist (giacenze)."""
    from tests.conftest import ROOT

    shutil.copytree(ROOT / "samples", root, ignore=shutil.ignore_patterns(".bridge"))
    cfg = root / "bridge.yaml"
    text = cfg.read_text(encoding="utf-8")
    for old, new in [('cento_piu_iva: "aliquota_iva + 100"',
                      'cento_piu_iva: "aliquota_ivaa + 100"'),
                     ("tracciato: shopify/clienti\n", "tracciato: shopify/clientii\n"),
                     ("window: 5, min_age: 5", "window: 0, min_age: 0")]:
        assert old in text, old
        text = text.replace(old, new)
    giacenze = text.index("  giacenze:")
    text = text[:giacenze] + text[giacenze:].replace("folder: erp-exports",
                                                     "folder: erp-export", 1)
    cfg.write_text(text, encoding="utf-8")
    template = root / "templates" / "easyfatt-ordini.xml"
    page = template.read_text(encoding="utf-8")
    template.write_text(page.replace("{{ testata.numero_ordine }}",
                                     "{{ testata.numero_ordine }", 1), encoding="utf-8")
    return cfg


def test_validate_lists_every_mistake_before_any_file_arrives(tmp_path: Path) -> None:
    cfg = broken_samples(tmp_path / "company")
    got = bridge_cli(cfg, "validate")
    assert got.returncode == 2, got.stdout + got.stderr
    errors = sorted((line for line in got.stderr.splitlines() if line.startswith("error: ")),
                    key=lambda line: line.split(": ", 2)[2])
    assert len(errors) == 4, got.stderr
    text = cfg.read_text(encoding="utf-8")

    def at(needle: str, after: str = "") -> str:
        """``bridge.yaml:LINE: `` of the first line holding ``needle`` after ``after``."""
        start = text.index(after) if after else 0
        return f"bridge.yaml:{text[:text.index(needle, start)].count(chr(10)) + 1}: "

    assert errors[0].startswith(f"error: {at('- compute: {fields: {cento_piu_iva')}"
                                "flows.articoli.steps: steps[")
    assert "has no field 'aliquota_ivaa'" in errors[0]
    assert "(did you mean 'aliquota_iva'?)" in errors[0]
    assert errors[1].startswith(f"error: {at('tracciato: shopify/clientii')}flows.clienti."
                                "tracciato: no tracciato named 'shopify/clientii'")
    assert errors[2].startswith(f"error: {at('folder: erp-export', '  giacenze:')}"
                                "flows.giacenze.source.folder: the source folder ")
    assert errors[2].endswith("erp-export' does not exist")
    assert errors[3].startswith(f"error: {at('targets:', '  ordini:')}flows.ordini.targets: "
                                "template ")
    assert "easyfatt-ordini.xml: unexpected '}'" in errors[3]
    assert not (tmp_path / "company" / ".bridge" / "ledger.sqlite").exists()  # no ledger
    sample = bridge_cli(cfg, "validate", "--flow", "nope")
    assert sample.returncode == 2 and "no flow named 'nope'" in sample.stderr


def test_the_shipped_samples_validate(tmp_path: Path) -> None:
    from tests.conftest import ROOT

    shutil.copytree(ROOT / "samples", tmp_path / "company",
                    ignore=shutil.ignore_patterns(".bridge"))
    got = bridge_cli(tmp_path / "company" / "bridge.yaml", "validate")
    assert (got.returncode, got.stdout.strip()) == (0, "ok: 5 flow(s), 2 reference table(s)")


def test_run_finds_a_mistake_before_it_claims_a_file(tmp_path: Path) -> None:
    """The broken template stops the orders flow before its export is claimed: the file
    stays under its own name, the ledger has no record of it; the other flows run."""
    import sqlite3

    cfg = broken_samples(tmp_path / "company")
    inbox = tmp_path / "company" / "inbox" / "shopify"
    exports = sorted(p.name for p in inbox.iterdir())
    got = bridge_cli(cfg, "run")
    assert got.returncode == 2, got.stdout + got.stderr
    assert "ordini: flows.ordini.targets: template" in got.stderr
    assert "clienti: " in got.stderr and "articoli: " in got.stderr
    assert sorted(p.name for p in inbox.iterdir()) == exports  # nothing claimed
    ledger = sqlite3.connect(tmp_path / "company" / ".bridge" / "ledger.sqlite")
    try:
        assert ledger.execute("SELECT COUNT(*) FROM files WHERE flow IN "
                              "('ordini', 'clienti', 'articoli')").fetchone() == (0,)
    finally:
        ledger.close()


def test_log_json_lines_carry_time_level_flow_event_and_error(tmp_path: Path) -> None:
    """`run --log-json`: every line is JSON with the same fields, the failures of a flow
    included (they also go to stderr as words, for cron's mail)."""
    cfg = make_world(tmp_path)
    other = CONFIG.split("flows:\n", 1)[1].replace("articoli:", "altro:", 1).replace(
        "folder: inbox", "folder: nowhere").replace("ART{{", "ALT{{")
    cfg.write_text(CONFIG + other, encoding="utf-8")
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    bad = order_file(2).replace("2,05", "2,0x")
    (tmp_path / "inbox" / "b.csv").write_text(bad, encoding="utf-8")
    got = bridge_cli(cfg, "run", "--log-json")
    assert got.returncode == 2, got.stdout + got.stderr
    lines = [json.loads(line) for line in got.stdout.splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert {"ts", "level", "flow", "file", "event", "error"} <= set(line), line
        assert line["ts"].endswith("+00:00")
    by_event = {line["event"]: line for line in lines}
    assert by_event["done"]["level"] == "info" and by_event["done"]["error"] is None
    assert by_event["rejected"]["level"] == "warning"
    assert by_event["error"]["level"] == "error" and by_event["error"]["flow"] == "altro"
    assert "the source folder" in by_event["error"]["error"]
    assert "error: altro: flows.altro.source.folder: the source folder" in got.stderr


def test_watch_log_json_lines_carry_time_and_level(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    shutil.rmtree(tmp_path / "inbox")  # a configuration error: watch stops, and says so
    got = bridge_cli(cfg, "watch", "--passes", "2", "--interval", "0", "--log-json")
    assert got.returncode == 2, got.stdout + got.stderr
    lines = [json.loads(line) for line in got.stderr.splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "message"} <= set(line) for line in lines)
    errors = [line["message"] for line in lines if line["level"] == "error"]
    assert any("the source folder" in m for m in errors), lines


def test_quiet_prints_only_what_needs_a_person(tmp_path: Path) -> None:
    """`run --quiet` for cron (which mails whatever a job prints): an idle pass and a done
    file print nothing; a rejected file and a failed flow do."""
    cfg = make_world(tmp_path)
    (tmp_path / "erp").mkdir()  # a target folder made by a write is said, even so
    idle = bridge_cli(cfg, "run", "--quiet")
    assert (idle.returncode, idle.stdout, idle.stderr) == (0, "", "")
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    done = bridge_cli(cfg, "run", "-q")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert (tmp_path / "erp" / "ART00001.TXT").exists()
    bad = order_file(2).replace("2,05", "2,0x")
    (tmp_path / "inbox" / "b.csv").write_text(bad, encoding="utf-8")
    rejected = bridge_cli(cfg, "run", "--quiet")
    assert rejected.returncode == 1 and rejected.stdout.startswith("[articoli] b.csv: rejected")
    shutil.rmtree(tmp_path / "inbox")
    failed = bridge_cli(cfg, "run", "--quiet")
    assert failed.returncode == 2 and "the source folder" in failed.stderr


def test_status_counts_the_files_that_wait_to_be_complete(tmp_path: Path) -> None:
    """Four files seen and waiting for the stability window: `run` says so, and `status`
    counts them as waiting (it said 0)."""
    cfg = make_world(tmp_path, CONFIG.replace("ready: {window: 0, min_age: 0}",
                                              "ready: {window: 3600, min_age: 0}"))
    for n in range(4):
        (tmp_path / "inbox" / f"o{n}.csv").write_text(order_file(n), encoding="utf-8")
    first = bridge_cli(cfg, "run")
    assert first.stdout.strip() == "nothing to do (4 file(s) wait to be complete)"
    [flow] = json.loads(bridge_cli(cfg, "status", "--format", "json").stdout)["flows"]
    assert flow["waiting"] == 4
    assert bridge_cli(cfg, "status").stdout.splitlines()[1].split()[:2] == ["articoli", "4"]


def test_the_log_is_reopened_after_logrotate_moves_it(tmp_path: Path) -> None:
    """A long `bridge watch` keeps logging into the new bridge.log, not the rotated one."""
    import logging
    import stat

    from bridge.logs import LOG, use_log_file

    log = tmp_path / "state" / "bridge.log"
    use_log_file(log)
    LOG.info("before the rotation")
    log.rename(tmp_path / "state" / "bridge.log.1")
    LOG.info("after the rotation")
    for h in LOG.handlers:
        if isinstance(h, logging.FileHandler):
            h.flush()
    assert "before" in (tmp_path / "state" / "bridge.log.1").read_text(encoding="utf-8")
    assert "after the rotation" in log.read_text(encoding="utf-8")
    assert "before" not in log.read_text(encoding="utf-8")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_status_check_exits_1_when_a_person_is_needed(tmp_path: Path) -> None:
    """For monitoring: a file rejected since the last `bridge ack`, or held longer than
    --held-for, makes `status --check` exit 1 and say why; an acknowledgement clears the
    rejected ones, and a new one counts again."""
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0",
                                              "retry_backoff: 0\n    approval: true"))
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")  # held
    bad = order_file(2).replace("2,05", "2,0x")
    (tmp_path / "inbox" / "b.csv").write_text(bad, encoding="utf-8")  # rejected
    assert bridge_cli(cfg, "run").returncode == 1
    first = bridge_cli(cfg, "status", "--check")
    assert first.returncode == 1
    assert first.stdout.splitlines()[-1] == ("needs a person: articoli: 1 rejected since the "
                                             "last `bridge ack`")
    strict = bridge_cli(cfg, "status", "--check", "--held-for", "0s")
    assert strict.returncode == 1 and "1 held for more than 0s; 1 rejected" in strict.stdout
    assert bridge_cli(cfg, "ack").stdout.strip() == "acknowledged: articoli"
    calm = bridge_cli(cfg, "status", "--check")
    assert calm.returncode == 0 and "needs a person" not in calm.stdout
    [flow] = json.loads(bridge_cli(cfg, "status", "--format", "json", "--held-for", "0s")
                        .stdout)["flows"]
    assert flow["attention"] == ["1 held for more than 0s"]
    (tmp_path / "inbox" / "c.csv").write_text(bad.replace("A0002", "A0003"), encoding="utf-8")
    assert bridge_cli(cfg, "run").returncode == 1
    again = bridge_cli(cfg, "status", "--check")
    assert again.returncode == 1 and "1 rejected since the last `bridge ack`" in again.stdout
    assert bridge_cli(cfg, "status", "--held-for", "soon").returncode == 2
    assert bridge_cli(cfg, "ack", "--flow", "nope").returncode == 2


def test_validate_online_connects_and_looks_at_the_folders(tmp_path: Path) -> None:
    """Over the embedded SFTP server: a source folder that is not there is a mistake, a
    target folder that is not there yet a note; a server whose key is not the one trusted
    is a mistake of its connection."""
    from bridge.sftpserver import SftpServer

    cfg = make_world(tmp_path)
    (tmp_path / "shop" / "ordini").mkdir(parents=True)
    with SftpServer(tmp_path / "shop", user="shop") as server:
        conn = sftp_connection(server, tmp_path)
        flows = CONFIG.split("flows:\n", 1)[1]
        remote = flows.replace("articoli:", "remoti:", 1).replace(
            "      folder: inbox", "      connection: shop\n      folder: ordinii").replace(
            "      - folder: erp", "      - connection: shop\n        folder: erp")
        text = CONFIG.replace("flows:", f"connections:\n  shop: {json.dumps(conn)}\nflows:")
        cfg.write_text(text + remote.replace("ART{{", "REM{{"), encoding="utf-8")
        offline = bridge_cli(cfg, "validate")
        online = bridge_cli(cfg, "validate", "--online")
        (tmp_path / "shop" / "ordinii").mkdir()
        fixed = bridge_cli(cfg, "validate", "--online", "--flow", "remoti")
    assert offline.returncode == 0, offline.stderr  # the remote folders are not looked at
    assert "flows.articoli.targets[0].folder: the folder" in offline.stderr
    assert online.returncode == 2
    assert ("flows.remoti.source.folder: the folder 'ordinii' does not exist on "
            "'shop'") in online.stderr
    assert ("flows.remoti.targets[0].folder: the folder 'erp' does not exist yet on "
            "'shop'") in online.stderr
    # Each says where it is: the line of its key in bridge.yaml.
    text = cfg.read_text(encoding="utf-8")
    remoti = text.index("  remoti:")
    folder = text[:text.index("folder:", remoti)].count("\n") + 1
    assert f"error: bridge.yaml:{folder}: flows.remoti.source.folder" in online.stderr
    assert fixed.returncode == 0 and "error:" not in fixed.stderr
    other = SftpServer(tmp_path / "shop", user="shop")  # a fresh host key, not trusted
    with other:
        conn["port"] = other.port
        cfg.write_text(text.replace(json.dumps({**conn, "port": server.port}),
                                    json.dumps(conn)), encoding="utf-8")
        moved = bridge_cli(cfg, "validate", "--online", "--flow", "remoti")
    now = cfg.read_text(encoding="utf-8")
    shop = now[:now.index("shop:", now.index("connections:"))].count("\n") + 1
    assert moved.returncode == 2 and f"error: bridge.yaml:{shop}: connections.shop:" in \
        moved.stderr


def test_a_target_folder_made_by_a_write_is_said_once(tmp_path: Path) -> None:
    """A target folder that did not exist is made by the first output (a typo in bridge.yaml
    would make one too): `run` says so, even with --quiet, and only the first time."""
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    first = bridge_cli(cfg, "run", "--quiet")
    assert first.returncode == 0 and (tmp_path / "erp" / "ART00001.TXT").exists()
    assert first.stderr == ("note: made the target folder 'erp' on connection 'local': it did "
                            "not exist\n")
    (tmp_path / "inbox" / "b.csv").write_text(order_file(2), encoding="utf-8")
    again = bridge_cli(cfg, "run", "--quiet")
    assert (again.returncode, again.stderr) == (0, "")


def test_a_report_or_metrics_file_that_cannot_be_written_is_exit_3(tmp_path: Path) -> None:
    """A full disk or a wrong path for --out or --textfile: a failure to retry (exit 3) in
    one line, not a bug, and no file half written."""
    cfg = make_world(tmp_path)
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    for args in (["report", "--format", "csv", "--out", str(tmp_path / "a-file" / "r.csv")],
                 ["metrics", "--textfile", str(tmp_path / "a-file" / "bridge.prom")]):
        got = bridge_cli(cfg, *args)
        assert got.returncode == 3, (args, got.stderr)
        assert got.stderr.startswith("error: cannot write ") and "internal" not in got.stderr
    assert (tmp_path / "a-file").read_text(encoding="utf-8") == "x"


def test_an_idle_run_finds_a_mistake_of_the_configuration(tmp_path: Path) -> None:
    """No file waiting, and still the step typo is an error at once (exit 2), not
    "nothing to do" until the day a file arrives."""
    cfg = make_world(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        "dedupe: {key: [codice]}", "dedupe: {key: [codise]}"), encoding="utf-8")
    got = bridge_cli(cfg, "run")
    assert got.returncode == 2, got.stdout + got.stderr
    assert "table 'articolo' has no field 'codise'" in got.stderr
    assert "did you mean 'codice'" in got.stderr


def test_an_idle_run_of_a_checked_flow_builds_no_layout(tmp_path: Path) -> None:
    """Once a flow passed its check, a run with nothing to do looks at its tracciati's
    files (changed?) without building the layouts' models, and without pandas, pyarrow or
    numpy: an idle run from cron costs its start and little else."""
    cfg = make_world(tmp_path)
    first = bridge_cli(cfg, "run")  # checked, and remembered as good
    assert first.returncode == 0, first.stdout + first.stderr
    heavy = ("bridge.spec.model", "bridge.spec.loader", "pandas", "pyarrow", "numpy")
    code = ("import sys\nfrom bridge.cli import main\n"
            f"try:\n    main(['--config', {str(cfg)!r}, 'run'], standalone_mode=False)\n"
            f"finally:\n    print(sorted(m for m in {heavy!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False)
    assert "nothing to do" in out.stdout, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_a_flow_that_passed_its_check_is_checked_again_only_after_a_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bridge.engine.preflight
    from bridge.config import load
    from bridge.engine.runner import run_pass

    real = bridge.engine.preflight.preflight
    checks: list[list[str] | None] = []

    def counted(ctx: Any, flows: list[str] | None = None) -> Any:
        checks.append(flows)
        return real(ctx, flows)

    monkeypatch.setattr(bridge.engine.preflight, "preflight", counted)
    cfg = make_world(tmp_path)
    for _ in range(2):  # two idle runs: checked at the first only
        assert run_pass(load(cfg)).exit_code == 0
    assert checks == [["articoli"]]
    layout = tmp_path / "tracciati" / "test" / "in.yaml"  # a tracciato changed: again
    layout.write_text(layout.read_text(encoding="utf-8").replace(
        "name: codice,", "name: codic,"), encoding="utf-8")
    result = run_pass(load(cfg))
    assert len(checks) == 2 and result.exit_code == 2
    assert "has no field 'codice'" in result.config_errors[0]
    result = run_pass(load(cfg))  # a mistake is never remembered as good
    assert len(checks) == 3 and result.exit_code == 2


def test_validate_online_says_which_server_does_not_answer(tmp_path: Path) -> None:
    """A server that refuses the connection, and one that takes it and never says a word
    (its `timeout: 2`): each is a mistake of its connection, said within its timeout, and
    validate goes on to the next."""
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # takes connections (the kernel does) and never answers
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: the connection is refused
    try:
        cfg = make_world(tmp_path)
        flows = CONFIG.split("flows:\n", 1)[1]
        conns, extra = [], []
        for name, sock in (("muto", silent), ("chiuso", closed)):
            conn = {"type": "sftp", "host": "127.0.0.1", "port": sock.getsockname()[1],
                    "user": "shop", "password": "x", "timeout": 2}
            conns.append(f"  {name}: {json.dumps(conn)}")
            extra.append(flows.replace("articoli:", f"da_{name}:", 1).replace(
                "      folder: inbox", f"      connection: {name}\n      folder: ordini")
                .replace("ART{{", f"{name.upper()}{{{{"))
        cfg.write_text(CONFIG.replace("flows:", "connections:\n" + "\n".join(conns)
                                      + "\nflows:") + "".join(extra), encoding="utf-8")
        start = time.monotonic()
        got = bridge_cli(cfg, "validate", "--online")
        took = time.monotonic() - start
    finally:
        silent.close()
        closed.close()
    assert got.returncode == 2, got.stdout + got.stderr
    errors = [line for line in got.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, got.stderr
    assert any("connections.muto:" in e for e in errors), errors
    assert any("connections.chiuso:" in e for e in errors), errors
    assert took < 10, took  # one try each (a timeout of 2 s), not a run's retries


def test_an_ack_during_a_pass_leaves_that_pass_s_refusals_counted(tmp_path: Path) -> None:
    """A pass stamps what it records with the time it started: an ack given while it ran
    covered the files it refused after the ack, and `status --check` said nothing of
    them. During a pass, an ack covers what was there when the pass started."""
    from bridge.config import load
    from bridge.ledger import open_ledger

    cfg = make_world(tmp_path)
    ledger = open_ledger(load(cfg).path(load(cfg).ledger))
    try:
        run = ledger.start_run(1000.0, "run")  # a pass in progress, started at 1000
        ledger.acknowledge(["articoli"], 1500.0)
        assert ledger.acknowledged("articoli") < 1000.0
        ledger.end_run(run, 1600.0, "exit 1")
        ledger.acknowledge(["articoli"], 1700.0)  # no pass running: up to now
        assert ledger.acknowledged("articoli") == 1700.0
    finally:
        ledger.close()


@pytest.mark.sqlite_only
def test_status_check_answers_while_another_process_holds_the_ledger_for_writing(
        tmp_path: Path) -> None:
    """A `sqlite3` shell (or a long write) holding the ledger's write lock: `status --check`
    reads at once. Every opening took the write lock to look at the schema, so the health
    check waited 30 s, then failed with exit 3 (database is locked) on a healthy bridge."""
    import sqlite3
    import time

    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert bridge_cli(cfg, "run").returncode == 0
    holder = sqlite3.connect(tmp_path / "state" / "ledger.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO acks VALUES ('x', 1)")
    try:
        started = time.monotonic()
        check = bridge_cli(cfg, "status", "--check", timeout=60)
        took = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert check.returncode == 0, check.stderr
    assert "articoli" in check.stdout and took < 20


def test_a_replay_that_finds_a_run_going_on_did_nothing_and_says_so(tmp_path: Path) -> None:
    """`bridge replay` while a run held the lock printed its error and exited 0: a script
    took the replay for done (found by a probe of several workers). Now exit 3."""
    from click.testing import CliRunner

    from bridge.cli import main
    from bridge.config import load
    from bridge.engine.runner import run_lock

    runner = CliRunner()

    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert runner.invoke(main, ["--config", str(cfg), "run"]).exit_code == 0
    conf = load(cfg)
    with run_lock(conf.path(conf.lock_file)):  # a run going on
        got = runner.invoke(main, ["--config", str(cfg), "replay", "1"])
    assert got.exit_code == 3, got.output
    assert "nothing was done, run it again once the run is over" in got.output
    assert sorted(p.name for p in (tmp_path / "erp").iterdir()) == [
        "ART00001.TXT", "ART00001.TXT.ok"]
