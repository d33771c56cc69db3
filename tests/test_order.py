"""One plan per input, order kept through outages, no empty files for the ERP.

- Every target of one input renders from one plan: rows, business keys and output names are
  fixed together, so a target that fails never makes the outputs of one input disagree, and
  an overlapping export never sends an order twice.
- A file that fails on a transient error keeps its planned names, and later files wait
  behind it: the ERP receives outputs in arrival order, numbered as without the outage.
- When nothing is left to write, nothing is written.
"""

from __future__ import annotations

from pathlib import Path

from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.errors import TransientError
from tests.flowkit import CONFIG, make_world, order_file
from tests.flowkit.spy import Spying

TWO_TARGETS = CONFIG.replace("flows:", """connections:
  erp: {type: local, root: .}
  erp2: {type: local, root: .}
flows:""").replace("""    targets:
      - folder: erp""", """    targets:
      - name: fixed
        connection: erp
        folder: erp
        tracciato: test/out
        filename: "ART{{ seq | zfill(5) }}.TXT"
      - name: copy
        connection: erp2
        folder: erp2""")


def lines(folder: Path) -> dict[str, list[bytes]]:
    return {p.name: [ln for ln in p.read_bytes().split(b"\r\n") if ln]
            for p in sorted(folder.glob("*.TXT"))}


def test_an_overlapping_export_with_a_failing_target_sends_each_order_once(
        tmp_path: Path) -> None:
    cfg = make_world(tmp_path, TWO_TARGETS)
    inbox = tmp_path / "inbox"
    first = order_file(1, rows=6)
    header, *rows = first.splitlines()
    extra = order_file(2, rows=3).splitlines()[1:]
    overlap = "\n".join([header, *rows[3:], *extra]) + "\n"  # 3 old orders, 3 new ones
    (tmp_path / "erp2").write_text("a file where the folder should be", encoding="utf-8")
    (inbox / "a.csv").write_text(first, encoding="utf-8")
    one = run_pass(load(cfg))
    assert [o.state for o in one.outcomes] == ["retrying"]
    (inbox / "b.csv").write_text(overlap, encoding="utf-8")
    two = run_pass(load(cfg))
    assert [o.state for o in two.outcomes] == ["retrying"]  # a again; b waits behind it
    assert any("waits behind file 1" in e for e in two.errors)
    (tmp_path / "erp2").unlink()
    three = run_pass(load(cfg))
    assert [(o.name, o.state) for o in three.outcomes] == [("a.csv", "done"),
                                                           ("b.csv", "done")]
    fixed, copy = lines(tmp_path / "erp"), lines(tmp_path / "erp2")
    assert list(fixed) == list(copy) == ["ART00001.TXT", "ART00002.TXT"]
    assert fixed == copy  # the two targets of each input agree, row for row
    codes = [ln[:10].strip() for rows_ in fixed.values() for ln in rows_]
    assert len(codes) == len(set(codes)) == 9  # every order once
    b = run_pass(load(cfg))
    assert b.outcomes == [] and b.exit_code == 0


def test_an_outage_keeps_the_order_and_the_numbers(tmp_path: Path) -> None:
    worlds = {}
    for name in ("clean", "outage"):
        worlds[name] = make_world(tmp_path / name, TWO_TARGETS.replace(
            "    retry_backoff: 0", "    retry_backoff: 0\n    max_attempts: 100"))
        for n in range(6):
            (tmp_path / name / "inbox" / f"o{n}.csv").write_text(order_file(n, rows=2),
                                                                 encoding="utf-8")
    assert run_pass(load(worlds["clean"])).exit_code == 0
    down = {"calls": 0}

    def hook(conn: str, op: str, n: int, args: tuple[object, ...]) -> None:
        # the ERP's server dies in the middle of the third file and stays down a while
        if conn == "erp" and op == "upload":
            down["calls"] += 1
            if 3 <= down["calls"] <= 6:
                raise TransientError("erp: connection refused")

    order: list[str] = []
    for _ in range(8):
        result = run_pass(load(worlds["outage"]), connect=Spying(hook))
        order += [o.outputs[0][0] for o in result.outcomes if o.state == "done"]
    assert order == [f"ART{n:05d}.TXT" for n in range(1, 7)]  # arrival order, no gap
    for target in ("erp", "erp2"):
        clean = {p.name: p.read_bytes() for p in (tmp_path / "clean" / target).iterdir()}
        after = {p.name: p.read_bytes() for p in (tmp_path / "outage" / target).iterdir()}
        assert after == clean  # the same names, the same bytes, as without the outage


def test_nothing_left_to_write_writes_nothing(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert run_pass(load(cfg)).exit_code == 0
    (tmp_path / "inbox" / "again.csv").write_text(order_file(1).replace(";1,", ";2,"),
                                                  encoding="utf-8")
    result = run_pass(load(cfg))
    assert [(o.state, o.outputs) for o in result.outcomes] == [("done", [])]
    assert "nothing to write" in result.outcomes[0].message
    assert sorted(p.name for p in (tmp_path / "erp").iterdir()) == ["ART00001.TXT",
                                                                    "ART00001.TXT.ok"]
    assert result.exit_code == 0
