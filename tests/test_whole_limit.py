"""A file that would be read whole (its groups apart, a flow that needs the whole file) but
is larger than the flow's ``whole_max_bytes`` is refused, never held whole in memory: an
issue says why and what to do, nothing is published, and once the limit is raised the same
file replays whole and writes what a whole reading writes. So is a file one of whose groups
never ends, which a chunk would hold whole; the report's search for cells and `bridge
check` stop at such a group too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import bridge.codecs
from bridge.cli import main
from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.errors import ConfigError
from bridge.ledger import open_ledger
from tests.test_samples import NOON, run_twice, sample_copy, written
from tests.test_streaming import big_orders, run, sent_keys

LIMIT = 16_384
ORDERS = "orders_export_1.csv"


@pytest.fixture
def chunks_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many chunks each reading of the order export took (the real decoder, counted;
    the reference tables' readings are not counted)."""
    real = bridge.codecs.iter_decode
    counts: list[int] = []

    def counted(source: object, *args: object, **kwargs: object
                ) -> Iterator[bridge.codecs.Decoded]:
        mine = getattr(source, "name", None) in (ORDERS, "source")
        at = len(counts)
        counts.extend([0] if mine else [])
        for part in real(source, *args, **kwargs):  # type: ignore[arg-type]
            if mine:
                counts[at] += 1
            yield part

    monkeypatch.setattr(bridge.codecs, "iter_decode", counted)
    return counts


def apart(copies: int) -> bytes:
    """Orders whose first one has its last row moved to the end of the file."""
    lines = big_orders(copies).split(b"\n")
    moved = lines.pop(2)
    assert moved.startswith(b"#100000,") and lines[1].startswith(b"#100000,")
    return b"\n".join([*lines[:-1], moved, b""])


def world(tmp_path: Path, data: bytes, **ordini: object) -> Path:
    """The sample company with ``data`` as its order export and the ordini flow set as
    ``ordini`` says (written in its bridge.yaml, as an operator would)."""
    cfg_path = sample_copy(tmp_path)
    (cfg_path.parent / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(data)
    configure(cfg_path, **ordini)
    return cfg_path


def configure(cfg_path: Path, flow: str = "ordini", **settings: object) -> None:
    conf = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    conf["flows"][flow].update(settings)
    cfg_path.write_text(yaml.safe_dump(conf, sort_keys=False, allow_unicode=True),
                        encoding="utf-8")


def undated(orders: bytes) -> bytes:
    """The fixed-width orders with the date of their trailer (``Z``, its last record) out."""
    body, _, trailer = orders.rstrip(b"\r\n").rpartition(b"\r\n")
    assert trailer.startswith(b"Z") and trailer[8:16].isdigit(), trailer[:20]
    return body + trailer[:8] + trailer[16:]


def only_issue(cfg_path: Path, file_id: int) -> tuple[str, str]:
    cfg = load(cfg_path)
    ledger = open_ledger(cfg.path(cfg.ledger))
    try:
        issues = ledger.issues(file_id)
    finally:
        ledger.close()
    assert len(issues) == 1, issues
    return issues[0].code, issues[0].message


def test_groups_apart_over_the_limit_are_refused_then_replay_whole_once_raised(
        tmp_path: Path, chunks_read: list[int], runner: CliRunner) -> None:
    data = apart(300)
    assert len(data) > 4 * LIMIT
    cfg_path = world(tmp_path / "limited", data, chunk_bytes=8192, whole_max_bytes=LIMIT)
    root = cfg_path.parent
    result = run_twice(cfg_path, ["ordini"])
    [o] = result.outcomes
    assert (o.state, o.file_id) == ("rejected", 1)
    code, message = only_issue(cfg_path, 1)
    assert code == "too-large-to-read-whole"
    assert f"{len(data):,} bytes would be read whole (the rows of a group are not together " \
           f"in the file), over the flow's whole_max_bytes ({LIMIT:,})" in message
    assert "raise whole_max_bytes, then replay the file" in message
    # One reading in chunks, which found the order apart; no second reading, whole.
    assert len(chunks_read) == 1 and chunks_read[0] > len(data) // 8192 - 2, chunks_read
    # Nothing published, nothing remembered as sent, nothing left in the work area.
    assert written(root / "erp") == {}
    assert sent_keys(root) == []
    assert [p for p in (root / ".bridge" / "work").rglob(".*")] == []
    # The sender's file in quarantine as it came, beside its report.
    quarantine = root / "quarantine"
    assert (quarantine / "orders_export_1.csv").read_bytes() == data
    report = (quarantine / "orders_export_1.csv.report.html").read_text(encoding="utf-8")
    assert "Its rows were not checked: the file, or one group of its rows, would have to " \
        "be held whole, past the flow&#39;s whole_max_bytes" in report
    assert "raise whole_max_bytes in bridge.yaml" in report

    # The operator lifts the limit and replays: the file is read whole, and writes the
    # bytes a whole reading of the same file writes.
    configure(cfg_path, whole_max_bytes=0)
    replayed = runner.invoke(main, ["--config", str(cfg_path), "replay", "1"])
    assert replayed.exit_code == 0, replayed.output
    assert chunks_read[1:] == [chunks_read[0], 1]  # in chunks again, then whole
    whole_root, _ = run(tmp_path, "whole", 0, data)
    got, want = written(root / "erp"), written(whole_root / "erp")
    want = {n: v for n, v in want.items() if n.startswith(("ordini/", "easyfatt/"))}
    assert sorted(got) == sorted(want) == [
        "easyfatt/ordini_000001.xml", "ordini/ORD000001.TXT", "ordini/ORD000001.TXT.ok"]
    # The trailer dates the replay today, the whole run at the tests' noon.
    for out in (got, want):
        out["ordini/ORD000001.TXT"] = undated(out["ordini/ORD000001.TXT"])
    assert got == want
    orders = [k for k in sent_keys(root) if k.startswith("#")]
    assert len(orders) == 300 * len({r.split(b",")[0] for r in
                                     big_orders(1).split(b"\n")[1:] if r})
    # and the one customer the ERP does not know, once
    assert sorted(set(sent_keys(root)) - set(orders)) == ["cliente|laura.conti@example.com"]


def test_a_flow_that_reads_whole_refuses_a_larger_file_without_reading_it(
        tmp_path: Path, chunks_read: list[int]) -> None:
    data = big_orders(100)
    cfg_path = world(tmp_path, data, chunk_bytes=0, whole_max_bytes=LIMIT)
    [o] = run_twice(cfg_path, ["ordini"]).outcomes
    assert o.state == "rejected"
    code, message = only_issue(cfg_path, o.file_id or 0)
    assert code == "too-large-to-read-whole" and "(chunk_bytes is 0)" in message
    assert chunks_read == []  # not a byte of it decoded
    assert written(cfg_path.parent / "erp") == {}


def test_a_file_of_exactly_the_limit_is_read_whole(tmp_path: Path,
                                                   chunks_read: list[int]) -> None:
    data = apart(40)
    cfg_path = world(tmp_path, data, chunk_bytes=8192, whole_max_bytes=len(data))
    [o] = run_twice(cfg_path, ["ordini"]).outcomes
    assert o.state == "done"
    assert chunks_read[-1] == 1 and len(chunks_read) == 2  # in chunks, then whole
    assert "ordini/ORD000001.TXT" in written(cfg_path.parent / "erp")


def test_a_chunk_over_the_default_limit_raises_the_default_not_an_error(
        tmp_path: Path) -> None:
    big = 100 << 20  # a configuration written before whole_max_bytes, with large chunks
    cfg_path = world(tmp_path, big_orders(1), chunk_bytes=big)
    assert load(cfg_path).flows["ordini"].whole_max_bytes == big
    configure(cfg_path, whole_max_bytes=64 << 20)  # said: then it must be no smaller
    with pytest.raises(ConfigError, match=r"whole_max_bytes \(67108864\) is under"):
        load(cfg_path)


@pytest.mark.parametrize(("limit", "chunk", "fine"), [
    (4096, 8192, False), (8192, 8192, True), (0, 8192, True), (4096, 0, True)])
def test_whole_max_bytes_is_no_smaller_than_a_chunk(tmp_path: Path, limit: int, chunk: int,
                                                     fine: bool) -> None:
    cfg_path = world(tmp_path, big_orders(1), chunk_bytes=chunk, whole_max_bytes=limit)
    if fine:
        assert load(cfg_path).flows["ordini"].whole_max_bytes == limit
        return
    with pytest.raises(ConfigError, match=r"whole_max_bytes \(4096\) is under chunk_bytes "
                                          r"\(8192\)"):
        load(cfg_path)


def one_order(copies: int) -> bytes:
    """The sample's order rows again and again, every one under the same order number: one
    group that never ends (a broken export, or the order column shifted)."""
    lines = big_orders(copies).split(b"\n")
    return b"\n".join([lines[0], *(b"#1" + ln[ln.index(b","):] for ln in lines[1:] if ln),
                       b""])


def test_a_group_that_never_ends_is_refused_not_held_whole(
        tmp_path: Path, chunks_read: list[int]) -> None:
    data = one_order(300)
    assert len(data) > 4 * LIMIT
    cfg_path = world(tmp_path, data, chunk_bytes=8192, whole_max_bytes=LIMIT)
    root = cfg_path.parent
    [o] = run_twice(cfg_path, ["ordini"]).outcomes
    assert o.state == "rejected"
    code, message = only_issue(cfg_path, o.file_id or 0)
    assert code == "too-large-to-read-whole"
    assert " bytes from line 2 on are one group (the rows of one name) not ended yet, over " \
           f"the flow's whole_max_bytes ({LIMIT:,})" in message
    assert chunks_read == [0]  # stopped before its first chunk: no chunk holds the group
    assert written(root / "erp") == {} and sent_keys(root) == []
    assert [p for p in (root / ".bridge" / "work").rglob(".*")] == []
    assert (root / "quarantine" / "orders_export_1.csv").read_bytes() == data


def test_the_reports_search_for_cells_stops_at_an_endless_group(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from bridge import report
    from bridge.engine.tables import load_tracciato

    t = load_tracciato(load(world(tmp_path, b"")), "shopify/ordini-b2b")
    data = one_order(300)
    assert len(data) > 4 * LIMIT
    last = data.count(b"\n")  # the line of the last row
    whole = report._rows_at(data, t, np.array([2, last]))
    assert len(whole.lines) == 2  # with no limit, both rows' cells are found
    monkeypatch.setattr(report, "_GROUP_MAX", LIMIT)
    monkeypatch.setattr(report, "_CHUNK_BYTES", 4096)
    assert len(report._rows_at(data, t, np.array([2, last])).lines) == 0


def test_bridge_check_stops_at_a_group_that_never_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bridge.config
    from bridge.check import check_file
    from bridge.engine.tables import load_tracciato

    t = load_tracciato(load(world(tmp_path, b"")), "shopify/ordini-b2b")
    path = tmp_path / "one.csv"
    path.write_bytes(one_order(300))
    monkeypatch.setattr(bridge.config, "WHOLE_MAX_BYTES", LIMIT)
    got = check_file(path, t, chunk_bytes=8192)
    last = got.issues[-1]
    assert (last.code, last.line) == ("too-large-to-read-whole", 2)
    assert "the check stops here" in last.message and not got.clean
    ordinary = tmp_path / "many.csv"
    ordinary.write_bytes(big_orders(300))
    assert all(i.code != "too-large-to-read-whole"
               for i in check_file(ordinary, t, chunk_bytes=8192).issues)


def test_a_price_list_left_in_place_refused_for_its_size_waits_until_it_changes(
        tmp_path: Path, runner: CliRunner) -> None:
    """``archive: leave``: the refused file stays where the ERP wrote it, is not read again
    at every pass while it stays the same, and replays once the limit is raised."""
    cfg_path = sample_copy(tmp_path)
    root = cfg_path.parent
    listino = root / "erp-exports" / "listino.csv"
    head, *rows = listino.read_bytes().split(b"\r\n")
    body = b"\r\n".join(r for r in rows if r)
    listino.write_bytes(b"\r\n".join([head, *[body] * 60, b""]))  # the articles, 60 times
    assert listino.stat().st_size > LIMIT
    configure(cfg_path, "articoli", chunk_bytes=0, whole_max_bytes=LIMIT)
    [o] = run_twice(cfg_path, ["articoli"]).outcomes
    assert o.state == "rejected" and listino.exists()
    code, message = only_issue(cfg_path, o.file_id or 0)
    assert code == "too-large-to-read-whole" and "(chunk_bytes is 0)" in message
    again = run_pass(load(cfg_path), flows=["articoli"], clock=lambda: NOON + 120)
    assert again.outcomes == []  # the same file, not read again
    assert written(root / "shop") == {}
    configure(cfg_path, "articoli", whole_max_bytes=0)
    replayed = runner.invoke(main, ["--config", str(cfg_path), "replay", str(o.file_id)])
    assert replayed.exit_code == 0, replayed.output
    assert "done" in replayed.output and written(root / "shop") != {}


def test_the_pass_goes_on_past_a_refused_file_and_its_exit_says_so(
        tmp_path: Path, runner: CliRunner) -> None:
    data = apart(300)
    cfg_path = world(tmp_path, data, chunk_bytes=8192, whole_max_bytes=LIMIT,
                     source={"folder": "inbox/shopify", "patterns": ["orders_export*.csv"],
                             "ready": {"window": 0, "min_age": 0}})
    inbox = cfg_path.parent / "inbox" / "shopify"
    (inbox / "orders_export_2.csv").write_bytes(big_orders(2))  # small, its orders together
    got = runner.invoke(main, ["--config", str(cfg_path), "run", "--flow", "ordini"])
    assert got.exit_code == 1, got.output  # a file was rejected
    assert f"orders_export_1.csv: rejected (file 1); 1 issues; {len(data):,} bytes would be " \
        "read whole (the rows of a group are not together in the file)" in got.output
    assert "orders_export_2.csv: done" in got.output
    assert "ordini/ORD000001.TXT" in written(cfg_path.parent / "erp")


def test_a_file_whose_line_ends_were_lost_is_refused_not_held_whole(
        tmp_path: Path, runner: CliRunner, chunks_read: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An export whose line ends were lost on the way (here turned into record separators)
    is one endless line: it was read whole, and copied again at every block (a 150 MB line
    took 886 MB), so a large one could take the machine's memory. Past whole_max_bytes
    without a line end it is refused, no chunk read, and the pass goes on."""
    import bridge.config
    from bridge.check import check_file
    from bridge.engine.tables import load_tracciato

    head, _, body = big_orders(300).partition(b"\n")
    data = head + b"\n" + body.rstrip(b"\n").replace(b"\n", b"\x1e") + b"\n"
    assert len(data) > 4 * LIMIT and data.count(b"\n") == 2  # the header's, the last
    cfg_path = world(tmp_path, data, chunk_bytes=8192, whole_max_bytes=LIMIT,
                     source={"folder": "inbox/shopify", "patterns": ["orders_export*.csv"],
                             "ready": {"window": 0, "min_age": 0}})
    root = cfg_path.parent
    (root / "inbox" / "shopify" / "orders_export_2.csv").write_bytes(big_orders(2))
    got = runner.invoke(main, ["--config", str(cfg_path), "run", "--flow", "ordini"])
    assert got.exit_code == 1, got.output  # a file was rejected
    assert "orders_export_1.csv: rejected (file 1); 1 issues; " in got.output
    assert f"bytes from line 2 on hold no line end, over the flow's whole_max_bytes " \
           f"({LIMIT:,}): one line would be held whole in memory" in got.output
    assert "orders_export_2.csv: done" in got.output
    assert chunks_read[0] == 0  # refused before its first chunk
    assert (root / "quarantine" / "orders_export_1.csv").read_bytes() == data
    assert [p for p in (root / ".bridge" / "work").rglob(".*")] == []
    # `bridge check` stops there too, and says why
    monkeypatch.setattr(bridge.config, "WHOLE_MAX_BYTES", LIMIT)
    t = load_tracciato(load(cfg_path), "shopify/ordini-b2b")
    path = tmp_path / "lost.csv"
    path.write_bytes(data)
    last = check_file(path, t, chunk_bytes=8192).issues[-1]
    assert (last.code, last.line) == ("too-large-to-read-whole", 2)
    assert "one line, held at once; the check stops here" in last.message
