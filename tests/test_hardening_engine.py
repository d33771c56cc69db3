"""Hardening, on the engine's side: hostile names never stop a pass, a file past max_bytes is
never read, bridge's own files are private, and retention deletes what it no longer keeps.
Each test is written as the attack or the fault, through the CLI where a user would be."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from tests.flowkit import CONFIG, bridge_cli, make_world, order_file, sftp_connection

DAY = 86400.0


def test_hostile_names_are_issues_and_never_stop_the_pass(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    inbox = tmp_path / "inbox"
    bad = os.fsencode(inbox) + b"/ordini\xe8.csv"  # latin-1 bytes on a UTF-8 system
    with open(bad, "wb") as f:
        f.write(order_file(1).encode())
    long_name = "o" * 246 + ".csv"  # 250 bytes: bridge's suffixes would pass 255
    (inbox / long_name).write_text(order_file(2), encoding="utf-8")
    (inbox / "good.csv").write_text(order_file(3), encoding="utf-8")
    first = bridge_cli(cfg, "run")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Traceback" not in first.stdout + first.stderr
    assert "good.csv: done" in first.stdout
    assert first.stdout.count("bad-file-name") == 0  # the message says why, in words
    assert "ordini\\xe8.csv: rejected" in first.stdout and "not valid UTF-8" in first.stdout
    assert "250 bytes long" in first.stdout
    # left where they are, untouched; not reported again while they stay the same
    assert os.path.exists(bad) and (inbox / long_name).exists()
    again = bridge_cli(cfg, "run")
    assert (again.returncode, again.stdout.strip()) == (0, "nothing to do")
    status = bridge_cli(cfg, "status").stdout.splitlines()[1].split()
    assert status[:5] == ["articoli", "0", "0", "2", "0"]  # 2 rejected
    shown = bridge_cli(cfg, "show", "ordini\\xe8.csv")
    assert "issue file: bad-file-name" in shown.stdout, shown.stdout


def test_a_file_over_max_bytes_is_refused_unread(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0",
                                              "retry_backoff: 0\n    max_bytes: 1000"))
    big = order_file(1, rows=100)
    assert len(big) > 1000
    (tmp_path / "inbox" / "big.csv").write_text(big, encoding="utf-8")
    (tmp_path / "inbox" / "small.csv").write_text(order_file(2, rows=2), encoding="utf-8")
    got = bridge_cli(cfg, "run")
    assert got.returncode == 1
    assert "big.csv: rejected" in got.stdout and "over the flow's max_bytes (1000)" in got.stdout
    assert "small.csv: done" in got.stdout
    assert (tmp_path / "quarantine" / "big.csv").read_text(encoding="utf-8") == big
    issues = (tmp_path / "quarantine" / "big.csv.issues.csv").read_text(encoding="utf-8-sig")
    assert "file-too-large" in issues
    assert not (tmp_path / "state" / "work" / "1" / "source").exists()  # never read


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_bridge_keeps_its_own_files_private(tmp_path: Path) -> None:
    mode_0640 = "done_file: {content: rows}\n        file_mode: 0640"
    cfg = make_world(tmp_path, CONFIG.replace("done_file: {content: rows}", mode_0640))
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    bad = order_file(2).replace("2,05", "2,0x")
    (tmp_path / "inbox" / "b.csv").write_text(bad, encoding="utf-8")
    old = os.umask(0o022)  # a usual umask: bridge must not rely on a strict one
    try:
        assert bridge_cli(cfg, "run").returncode == 1
    finally:
        os.umask(old)
    state = tmp_path / "state"
    assert mode(state / "ledger.sqlite") == 0o600
    assert mode(state / "bridge.log") == 0o600
    assert mode(state / "run.lock") == 0o600
    assert mode(state) == 0o700
    assert mode(state / "work") == 0o700
    work = state / "work"
    for p in work.rglob("*"):
        assert mode(p) == (0o700 if p.is_dir() else 0o600), p
    # What the ERP reads takes the target's file_mode, done-file included; the reports bridge
    # writes in quarantine are its own (0600); the sender's file moved there keeps its mode.
    erp = sorted((tmp_path / "erp").iterdir())
    assert [p.name for p in erp] == ["ART00001.TXT", "ART00001.TXT.ok"]
    assert [mode(p) for p in erp] == [0o640, 0o640]
    quarantined = sorted((tmp_path / "quarantine").iterdir())
    assert [p.name for p in quarantined] == ["b.csv", "b.csv.issues.csv", "b.csv.report.html"]
    assert [mode(p) for p in quarantined] == [0o644, 0o600, 0o600]


def clock_at(path: Path, t: float) -> dict[str, str]:
    path.write_text(str(t), encoding="ascii")
    return {"BRIDGE_FAKE_CLOCK": str(path)}


def test_retention_deletes_what_it_no_longer_keeps(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0", """retry_backoff: 0
    retention: {work: 30d, reports: 90d, archive: 365d}"""))
    clock = tmp_path / "clock"
    t0 = 1_800_000_000.0
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    bad = order_file(2).replace("2,05", "2,0x")
    (tmp_path / "inbox" / "b.csv").write_text(bad, encoding="utf-8")
    assert bridge_cli(cfg, "run", env=clock_at(clock, t0)).returncode == 1
    work = tmp_path / "state" / "work"
    quarantine = tmp_path / "quarantine"
    archived = next((tmp_path / "archive").rglob("a.csv"))
    assert (work / "1" / "source").exists() and (work / "2" / "source").exists()
    assert sorted(p.name for p in quarantine.iterdir()) == [
        "b.csv", "b.csv.issues.csv", "b.csv.report.html"]
    assert "'2,0x' is not a decimal" in bridge_cli(cfg, "show", "2").stdout
    # 29 days on: everything is kept
    assert bridge_cli(cfg, "run", env=clock_at(clock, t0 + 29 * DAY)).returncode == 0
    assert (work / "1").exists() and (work / "2").exists()
    # 31 days: bridge's copies go, a dry run of prune says nothing more is due
    assert bridge_cli(cfg, "run", env=clock_at(clock, t0 + 31 * DAY)).returncode == 0
    assert not (work / "1").exists() and not (work / "2").exists()
    assert len(list(quarantine.iterdir())) == 3 and archived.exists()
    dry = bridge_cli(cfg, "prune", "--dry-run", env=clock_at(clock, t0 + 91 * DAY))
    assert dry.returncode == 0 and "b.csv.report.html (would be deleted)" in dry.stdout
    assert len(list(quarantine.iterdir())) == 3  # a dry run deletes nothing
    # 91 days: the refused file and its reports go, and the values quoted in the ledger
    done = bridge_cli(cfg, "prune", env=clock_at(clock, t0 + 91 * DAY))
    assert done.returncode == 0 and "reports: quarantine/b.csv deleted" in done.stdout
    assert list(quarantine.iterdir()) == []
    story = bridge_cli(cfg, "show", "2").stdout
    assert "bad-decimal: articolo.prezzo: not a decimal number" in story
    assert "2,0x" not in story
    # a year: the archived file goes too; nothing is done twice
    assert bridge_cli(cfg, "run", env=clock_at(clock, t0 + 366 * DAY)).returncode == 0
    assert not archived.exists()
    again = bridge_cli(cfg, "prune", env=clock_at(clock, t0 + 400 * DAY))
    assert again.stdout.strip() == "nothing to prune"
    replay = bridge_cli(cfg, "replay", "1")
    assert replay.returncode == 2 and "no copy kept" in replay.stderr


def test_a_hostile_sftp_server_never_stops_the_flow(tmp_path: Path) -> None:
    """The embedded server plays a malicious one: it lists a name that is not UTF-8 and one
    of 250 bytes, and refuses to serve a file it lists. Each is an issue on that file; the
    good file goes through; the pass, the flow and the next pass are unharmed."""
    import json

    from bridge.sftpserver import SftpServer

    shop = tmp_path / "shop"
    inbox = shop / "inbox"
    inbox.mkdir(parents=True)
    with open(os.fsencode(inbox) + b"/ordini\xff.csv", "wb") as f:
        f.write(order_file(1).encode())
    (inbox / ("x" * 246 + ".csv")).write_text(order_file(2), encoding="utf-8")
    (inbox / "secret.csv").write_text(order_file(3), encoding="utf-8")
    (inbox / "good.csv").write_text(order_file(4), encoding="utf-8")
    with SftpServer(shop, user="shop", refuse_reads=["inbox/secret.csv"]) as server:
        conn = sftp_connection(server, tmp_path)
        cfg = make_world(tmp_path, CONFIG.replace("flows:", f"connections:\n  shop: "
                                                  f"{json.dumps(conn)}\nflows:").replace(
            "      folder: inbox", "      connection: shop\n      folder: inbox"))
        first = bridge_cli(cfg, "run")
        assert first.returncode == 1, first.stdout + first.stderr
        assert "Traceback" not in first.stdout + first.stderr
        lines = sorted(first.stdout.splitlines())
        assert [ln.split(":")[0] for ln in lines] == [
            "[articoli] good.csv", "[articoli] ordini\\xff.csv", "[articoli] secret.csv",
            f"[articoli] {'x' * 246}.csv"]
        assert "good.csv: done" in first.stdout
        assert "ordini\\xff.csv: rejected" in first.stdout and "not valid UTF-8" in first.stdout
        assert "secret.csv: rejected" in first.stdout and "left where it is" in first.stdout
        assert "250 bytes long" in first.stdout
        assert sorted(p.name for p in (shop / "quarantine").iterdir()) == [
            "secret.csv.issues.csv", "secret.csv.report.html"]  # the report, not the file
        assert (inbox / "secret.csv").exists()  # given back, never moved nor read
        again = bridge_cli(cfg, "run")
        assert (again.returncode, again.stdout.strip()) == (0, "nothing to do")


def test_the_documented_defaults_are_the_ones_in_force() -> None:
    """SECURITY.md and docs/flows.md promise 1 GB per file and 30/90 days of retention."""
    from bridge.config import Flow, Retention

    assert Flow.model_fields["max_bytes"].default == 1 << 30
    r = Retention()
    assert (r.work, r.reports, r.archive) == (30 * DAY, 90 * DAY, None)


def test_the_helpers_folder_becomes_the_render_folder_only_when_it_holds_just_the_outputs(
        tmp_path: Path) -> None:
    """Kept outputs: the folder a helper streamed them into is renamed as the render
    folder (no folder made), unless it holds anything else or a render folder is there
    already; then the outputs are moved one by one. Either way the same bytes, under the
    same names, with an index that reads back."""
    from types import SimpleNamespace

    from bridge.engine.outputs import keep_rendered, kept_rendered
    from bridge.engine.render import Rendered

    def kept_from(case: str) -> tuple[Path, dict[str, tuple[Rendered, Path]]]:
        ctx = SimpleNamespace(work=lambda file_id: tmp_path / case / str(file_id))
        row = SimpleNamespace(id=7)
        ahead = tmp_path / case / "7" / "ahead-99"
        ahead.mkdir(parents=True, mode=0o700)
        (ahead / "stream-0.out").write_bytes(b"ORD00001\r\n")
        if case == "spool":
            (ahead / ".keys-0").write_bytes(b"keys")
        if case == "render":
            (tmp_path / case / "7" / "render").mkdir(mode=0o700)
        digest = hashlib.sha256(b"ORD00001\r\n").hexdigest()
        rendered = [Rendered("erp", None, 1, ahead / "stream-0.out", digest, 10),
                    Rendered("csv", b"a;b\r\n", 1)]
        return ahead, keep_rendered(ctx, row, rendered)  # type: ignore[arg-type]

    for case in ("adopted", "spool", "render"):
        ahead, kept = kept_from(case)
        render = tmp_path / case / "7" / "render"
        assert {t: p for t, (_, p) in kept.items()} == {"erp": render / "0.out",
                                                        "csv": render / "1.out"}
        assert (render / "0.out").read_bytes() == b"ORD00001\r\n"
        assert (render / "1.out").read_bytes() == b"a;b\r\n"
        assert sorted(os.listdir(render)) == ["0.out", "1.out", "index.json"]
        assert stat.S_IMODE(render.stat().st_mode) == 0o700
        ctx = SimpleNamespace(work=lambda file_id, c=case: tmp_path / c / str(file_id))
        assert kept_rendered(ctx, SimpleNamespace(id=7)) == kept  # type: ignore[arg-type]
        if case == "adopted":
            assert not ahead.exists()
        else:  # not adopted: what else was there stays for its owner to remove
            assert sorted(os.listdir(ahead)) == ([".keys-0"] if case == "spool" else [])


def test_a_helper_indexes_its_outputs_and_the_main_process_only_renames_the_folder(
        tmp_path: Path) -> None:
    """index_ahead: the helper names its outputs as they are kept and writes the index; the
    main process then renames the folder and leaves the index as it is (the same inode).
    An index that says anything else is written again; outputs held in memory are not
    indexed ahead."""
    import json
    from types import SimpleNamespace

    from bridge.engine.outputs import index_ahead, keep_rendered, kept_rendered, render_index
    from bridge.engine.render import Rendered

    def streamed(case: str) -> tuple[SimpleNamespace, Path, list[Rendered]]:
        ctx = SimpleNamespace(work=lambda file_id: tmp_path / case / str(file_id))
        ahead = tmp_path / case / "7" / "ahead-99"
        ahead.mkdir(parents=True, mode=0o700)
        rendered = []
        for n, (target, body) in enumerate((("erp", b"ORD00001\r\n"), ("xml", b"<a/>\n"))):
            (ahead / f"stream-{n}.out").write_bytes(body)
            rendered.append(Rendered(target, None, 1 + n, ahead / f"stream-{n}.out",
                                     hashlib.sha256(body).hexdigest(), len(body)))
        return ctx, ahead, rendered

    ctx, ahead, rendered = streamed("indexed")
    named = index_ahead(ahead, rendered)
    assert sorted(os.listdir(ahead)) == ["0.out", "1.out", "index.json"]
    assert [r.path for r in named] == [ahead / "0.out", ahead / "1.out"]
    assert [(r.target, r.rows, r.sha256, r.size) for r in named] == [
        (r.target, r.rows, r.sha256, r.size) for r in rendered]
    assert (ahead / "index.json").read_bytes() == render_index(named)
    inode = (ahead / "index.json").stat().st_ino
    kept = keep_rendered(ctx, SimpleNamespace(id=7), named)  # type: ignore[arg-type]
    render = tmp_path / "indexed" / "7" / "render"
    assert not ahead.exists()  # renamed, not copied
    assert (render / "index.json").stat().st_ino == inode  # not written again
    assert kept_rendered(ctx, SimpleNamespace(id=7)) == kept  # type: ignore[arg-type]
    assert (render / "1.out").read_bytes() == b"<a/>\n"

    ctx, ahead, rendered = streamed("wrong")
    named = index_ahead(ahead, rendered)
    said = json.loads((ahead / "index.json").read_text())
    said["erp"]["rows"] = 99
    (ahead / "index.json").write_text(json.dumps(said))
    kept = keep_rendered(ctx, SimpleNamespace(id=7), named)  # type: ignore[arg-type]
    render = tmp_path / "wrong" / "7" / "render"
    assert (render / "index.json").read_bytes() == render_index(named)
    assert kept_rendered(ctx, SimpleNamespace(id=7)) == kept  # type: ignore[arg-type]

    ctx, ahead, rendered = streamed("memory")
    mixed = [rendered[0], Rendered("csv", b"a;b\r\n", 1)]
    assert index_ahead(ahead, mixed) is mixed
    assert sorted(os.listdir(ahead)) == ["stream-0.out", "stream-1.out"]
