"""Files transformed by the main process while it waits for the helper
(``bridge.engine.ahead_here``): the same bytes and ledger as one process, a ledger answer
that changed meanwhile makes the file transformed again, a failure costs the work only."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import bridge.engine.transform
from bridge.engine.ahead import Helper
from bridge.engine.ahead_here import KEEP, Pace, transform_here
from tests.flowkit import make_world, order_file
from tests.test_ahead import FILES, FLOW, fetched_two, fill, helper_line, ledger_view, tree

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                reason="the helper is for machines of two cores or more")
#: `bridge run` with every wait for the helper worth a transform here.
ALWAYS = ("import sys; import bridge.engine.ahead_here as h; "
          "h.Pace.worth_it = lambda self: True; from bridge.cli import main; "
          "sys.argv[0] = 'bridge'; main()")


def test_files_transformed_here_while_waiting_write_what_one_process_writes(
        tmp_path: Path) -> None:
    alone = make_world(tmp_path / "alone", "transform_ahead: false\n" + FLOW)
    both = make_world(tmp_path / "both", FLOW)
    for root in (tmp_path / "alone", tmp_path / "both"):
        fill(root)
    runs = [subprocess.run([sys.executable, "-c", ALWAYS, "--config", str(cfg), "run"],
                           capture_output=True, text=True, timeout=300, check=False)
            for cfg in (alone, both)]
    assert [r.returncode for r in runs] == [1, 1], runs  # two files rejected in each
    line = helper_line(tmp_path / "both")
    here = int(line.split("and this one ")[1].split(" ")[0])
    assert here >= 3, line
    assert tree(tmp_path / "both" / "erp") == tree(tmp_path / "alone" / "erp")
    assert len(tree(tmp_path / "both" / "erp")) == 2 * (FILES - 1)
    assert ledger_view(both) == ledger_view(alone)
    assert list((tmp_path / "both" / "state" / "work").glob("*/ahead-*")) == []


def _two_files(tmp_path: Path, again: bool) -> tuple[Path, Path, Path]:
    cfg = make_world(tmp_path, FLOW)
    (tmp_path / "inbox" / "o1.csv").write_text(order_file(1, 2), encoding="utf-8")
    (tmp_path / "inbox" / "o2.csv").write_text(
        order_file(2, 2) + ("A00010;Di nuovo;1,00;1\n" if again else ""), encoding="utf-8")
    return cfg, tmp_path / "erp" / "ART00001.TXT", tmp_path / "erp" / "ART00002.TXT"


def _carried(cfg_path: Path, here: bool) -> Iterator[dict[str, int]]:
    """Both files fetched; the second transformed here first (``here``), then both carried
    on in order. Yields the helper's tally."""
    pipe, flow, r1, r2 = fetched_two(cfg_path)
    cfg = pipe.cfg
    try:
        helper = Helper(None, None, None)  # no process: only what this one does
        if here:
            transform_here(pipe, helper, r2, flow)  # type: ignore[arg-type]
            made = list((cfg.path(cfg.work_dir) / str(r2.id)).glob("ahead-here/*"))
            assert bool(made) is (helper.answers[r2.id][0] == "done")  # type: ignore[union-attr]
        pipe.ahead = helper
        assert pipe.advance(r1.id).state == "done"  # type: ignore[union-attr]
        assert pipe.advance(r2.id).state == "done"  # type: ignore[union-attr]
        yield dict(helper.tally)
        helper.close()
    finally:
        pipe.ledger.close()
    assert list(cfg.path(cfg.work_dir).glob("*/ahead-*")) == []


@pytest.mark.parametrize("again", [False, True], ids=["own-keys", "a-key-sent-meanwhile"])
def test_a_file_transformed_here_is_used_unless_the_ledger_moved_on(tmp_path: Path,
                                                                     again: bool) -> None:
    """File 2 transformed before file 1 is planned. With keys of its own, that work is
    used; sending an article file 1 sends too, it is set aside and file 2 transformed in
    its turn, without the article. Either way the bytes of one process."""
    cfg, _, _ = _two_files(tmp_path / "here", again)
    (tally,) = _carried(cfg, here=True)
    assert tally == ({"stale": 1} if again else {"here": 1})
    plain, _, _ = _two_files(tmp_path / "plain", again)
    assert list(_carried(plain, here=False)) == [{}]
    assert tree(tmp_path / "here" / "erp") == tree(tmp_path / "plain" / "erp")
    second = (tmp_path / "here" / "erp" / "ART00002.TXT").read_bytes().decode("cp1252")
    assert "A00010" not in second and second.count("\r\n") == 2  # sent by file 1 only


def test_a_transform_here_that_fails_costs_its_work_only(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    real = bridge.engine.transform.transform_file
    calls = []

    def once_broken(*args: object, **kwargs: object) -> object:
        calls.append(kwargs.get("folder"))
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bridge.engine.transform, "transform_file", once_broken)
    cfg, _, second = _two_files(tmp_path, False)
    (tally,) = _carried(cfg, here=True)
    assert tally == {"failed": 1}
    assert calls[0] is not None and calls[0].name == "ahead-here"
    assert second.read_bytes().decode("cp1252").count("\r\n") == 2


def test_the_pace_takes_a_file_once_the_waits_add_up_to_one() -> None:
    pace = Pace()
    assert not pace.worth_it()  # nothing waited yet
    for _ in range(3):
        with pace.waiting(answered=False):
            time.sleep(0.002)
    assert pace.worth_it()  # waits of 6 ms or more: a first try
    pace.took(0.05)  # a transform here took 50 ms, and paid the waits off
    assert pace.owed == 0 and not pace.worth_it()
    # The helper slower by a little on every file (1 ms, here a wait of 1 ms each time):
    # the waits fade as they come, never adding up to a transform of 50 ms.
    for _ in range(200):
        pace.owed = pace.owed * KEEP + 0.001  # as waiting() adds a wait of 1 ms
    assert 0.015 < pace.owed < 0.0161 and not pace.worth_it()
    # Slower by 5 ms a file: they add up to one transform within a dozen files.
    for _ in range(12):
        pace.owed = pace.owed * KEEP + 0.005
        if pace.worth_it():
            break
    assert pace.worth_it()
    pace.took(0.05)
    assert 0 <= pace.owed < 0.005 and not pace.worth_it()
    for _ in range(40):  # the answers were in: no wait, and the rest fades
        with pace.waiting(answered=True):
            pass
    assert pace.owed < 0.0005 and not pace.worth_it()
    for _ in range(10):  # transforms here got quicker: 10 ms, and waits of 5 ms...
        pace.took(0.01)
    for _ in range(3):  # ...add up to one in three files
        pace.owed = pace.owed * KEEP + 0.005
    assert pace.worth_it()
