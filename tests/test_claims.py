"""The ready files of a flow claimed a few at a time (bridge.engine.claims): one durable
commit for several claims, and nothing lost or taken twice whatever ends the pass between
a file's claim and its turn: a kill, an error, a file that must wait, a sender that writes
the file again meanwhile."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import faults
from bridge.config import load
from bridge.engine.claims import CLAIM_BATCH, Claims
from bridge.engine.pipeline import Pipeline
from bridge.engine.readiness import ready
from bridge.engine.runner import reading, run_pass
from bridge.errors import LostTurn
from bridge.ledger import CLAIM_PREFIX, FileRow, open_ledger
from tests.flowkit import CONFIG, make_world, order_file
from tests.test_ahead import ledger_view, run, tree

FILES = 40
HEADS = {"alone": "transform_ahead: false\n", "ahead": ""}


def world(root: Path, head: str = HEADS["alone"]) -> Path:
    cfg = make_world(root, head + CONFIG)
    for n in range(FILES):
        (root / "inbox" / f"o{n:04d}.csv").write_text(order_file(n, 3), encoding="utf-8")
    return cfg


def rows(cfg: Path) -> list[FileRow]:
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        return sorted(ledger.files(), key=lambda f: f.id)
    finally:
        ledger.close()


def inbox(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "inbox").iterdir())


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    """The erp folder of a pass that nothing stopped."""
    cfg = world(tmp_path / "clean")
    assert all(o.state == "done" for o in run_pass(load(cfg)).outcomes)
    assert len(tree(tmp_path / "clean" / "erp")) == 2 * FILES
    return tmp_path / "clean" / "erp"


def test_claim_many_is_all_or_none(tmp_path: Path) -> None:
    c = load(world(tmp_path))
    ledger = open_ledger(c.path(c.ledger))
    try:
        got = ledger.claim_many("articoli", [("a.csv", 10, 1.0), ("b.csv", 20, 2.0)], None, 5.0)
        assert [(r.path, r.size, r.mtime, r.state, r.sha256) for r in got] == [
            ("a.csv", 10, 1.0, "claimed", ""), ("b.csv", 20, 2.0, "claimed", "")]
        assert got[0].id < got[1].id
        assert [r.held_as for r in got] == [f"{CLAIM_PREFIX}{r.id}" for r in got]

        def broken() -> Iterator[tuple[str, int, float]]:
            yield ("c.csv", 1, 1.0)
            raise OSError("the listing failed half-way")

        with pytest.raises(OSError):
            ledger.claim_many("articoli", broken(), None, 6.0)
        assert [f.path for f in ledger.files()] == ["a.csv", "b.csv"]
    finally:
        ledger.close()


def test_an_error_after_a_batch_of_claims_leaves_them_to_the_next_pass(
        tmp_path: Path, clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The third file's claim is followed by an error (a stand-in for a bug): the batch's
    other claims stay, their files untouched at their names, and the next pass carries them
    on first, in order: the bytes of a pass that nothing stopped."""
    cfg = world(tmp_path / "w")
    monkeypatch.setattr(faults, "_counts", {})
    monkeypatch.setattr(faults, "_raise", "after-claim:3")
    first = run_pass(load(cfg))
    assert any("InjectedFault" in e for e in first.internal_errors), first
    got = rows(cfg)
    assert [f.state for f in got] == ["done"] * 2 + ["claimed"] * (CLAIM_BATCH - 2)
    assert [f.path for f in got] == [f"o{n:04d}.csv" for n in range(CLAIM_BATCH)]
    assert inbox(tmp_path / "w") == [f"o{n:04d}.csv" for n in range(2, FILES)]
    monkeypatch.setattr(faults, "_raise", "")
    second = run_pass(load(cfg))
    assert [o.state for o in second.outcomes] == ["done"] * (FILES - 2)
    assert tree(tmp_path / "w" / "erp") == tree(clean)
    assert [f.state for f in rows(cfg)] == ["done"] * FILES
    assert inbox(tmp_path / "w") == []


def test_a_file_read_in_chunks_is_claimed_on_its_own(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch stops before a file over ``chunk_bytes``: that one is claimed in its turn,
    alone, and the small files after it in a batch of their own; the outputs are those of
    a pass that nothing stopped."""
    worlds = {}
    for name in ("clean", "w"):
        worlds[name] = world(tmp_path / name, "")
        text = worlds[name].read_text(encoding="utf-8")
        worlds[name].write_text(text.replace("    retry_backoff: 0\n",
                                             "    retry_backoff: 0\n    chunk_bytes: 1500\n"),
                                encoding="utf-8")
        (tmp_path / name / "inbox" / "o0005.csv").write_text(order_file(5, 60), encoding="utf-8")
    assert (tmp_path / "w" / "inbox" / "o0005.csv").stat().st_size > 1500
    assert all(o.state == "done" for o in run_pass(load(worlds["clean"])).outcomes)
    monkeypatch.setattr(faults, "_counts", {})
    monkeypatch.setattr(faults, "_raise", "after-claim:1")
    run_pass(load(worlds["w"]))
    assert [f.path for f in rows(worlds["w"])] == [f"o{n:04d}.csv" for n in range(5)]
    monkeypatch.setattr(faults, "_counts", {})
    # the claims left are carried on first; then the large file's claim, then the next
    monkeypatch.setattr(faults, "_raise", "after-claim:2")
    run_pass(load(worlds["w"]))
    got = rows(worlds["w"])
    assert [f.state for f in got] == ["done"] * 5 + ["done"] + ["claimed"] * CLAIM_BATCH
    assert got[5].path == "o0005.csv" and got[6].path == "o0006.csv"
    monkeypatch.setattr(faults, "_raise", "")
    run_pass(load(worlds["w"]))
    assert tree(tmp_path / "w" / "erp") == tree(tmp_path / "clean" / "erp")
    assert inbox(tmp_path / "w") == []


def test_a_claimed_file_written_again_before_its_turn_is_taken_as_it_is_then(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Claimed in a batch, then written again by its sender before bridge renamed it: its
    claim is given up (nothing was taken), and its new bytes are taken by a later pass, once;
    the old bytes are never written."""
    cfg = world(tmp_path)
    monkeypatch.setattr(faults, "_counts", {})
    monkeypatch.setattr(faults, "_raise", "after-claim:1")
    run_pass(load(cfg))
    assert len(rows(cfg)) == CLAIM_BATCH
    (tmp_path / "inbox" / "o0005.csv").write_text(
        order_file(905, 4), encoding="utf-8")  # other codes, another size
    monkeypatch.setattr(faults, "_raise", "")
    states: list[str] = []
    for _ in range(4):
        states += [f"{o.name}: {o.state}" for o in run_pass(load(cfg)).outcomes]
        if inbox(tmp_path) == []:
            break
    assert "o0005.csv: waiting" in states
    done = [f for f in rows(cfg) if f.state == "done"]
    assert sorted(f.path for f in done) == [f"o{n:04d}.csv" for n in range(FILES)]
    assert len(done) == FILES  # every file once; the claim given up is gone
    written = b"".join(tree(tmp_path / "erp").values())
    assert b"A09050" in written  # the new bytes' first article
    assert b"A00050" not in written  # the old bytes' first article, never written
    assert inbox(tmp_path) == []


def test_claims_not_used_are_dropped_when_a_file_must_wait(tmp_path: Path, clean: Path
                                                           ) -> None:
    """The target is a file where its folder should be: the first file is retrying, and
    the flow stops there. The claims made with it are dropped: their files are untouched,
    and taken once the target is fixed."""
    cfg = world(tmp_path / "w")
    (tmp_path / "w" / "erp").write_text("not a folder", encoding="utf-8")
    first = run_pass(load(cfg))
    assert [(o.name, o.state) for o in first.outcomes] == [("o0000.csv", "retrying")]
    (waits,) = rows(cfg)
    assert (waits.path, waits.state) == ("o0000.csv", "retrying")
    assert inbox(tmp_path / "w") == sorted([f"{waits.held_as}"] + [
        f"o{n:04d}.csv" for n in range(1, FILES)])
    (tmp_path / "w" / "erp").unlink()
    again = run_pass(load(cfg))
    assert [o.state for o in again.outcomes] == ["done"] * FILES
    assert tree(tmp_path / "w" / "erp") == tree(clean)


def test_claims_are_dropped_only_while_the_flow_is_this_workers(tmp_path: Path) -> None:
    """A worker that lost its turn on the flow (the fence says so) leaves its unused claims
    to whoever holds the flow now; holding it, it drops them."""
    c = load(world(tmp_path))
    pipe = Pipeline(c, open_ledger(c.path(c.ledger)), {}, None, reading(time.time))
    try:
        flow = c.flows["articoli"]
        listing = ready(pipe, "articoli", flow, None).ready
        claims = Claims(pipe, "articoli", flow, listing)
        first = claims.take(0)
        assert first is not None and first.path == "o0000.csv"
        assert claims.take(1) == pipe.ledger.get(first.id + 1)  # claimed with the first
        held: list[str] = []

        def lost() -> None:
            held.append("asked")
            raise LostTurn("another worker holds the flow now")

        pipe.fence = lost
        with pytest.raises(LostTurn):
            claims.drop_unused()
        assert held == ["asked"]
        assert len(pipe.ledger.files(states=frozenset({"claimed"}))) == CLAIM_BATCH
        pipe.fence = held.clear
        claims.drop_unused()
        assert [f.path for f in pipe.ledger.files()] == ["o0000.csv", "o0001.csv"]
        assert claims.take(2) is not None  # taken later: claimed again, with the next ones
        assert len(pipe.ledger.files()) == 2 + CLAIM_BATCH
    finally:
        pipe.ledger.close()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("point", ["after-claim:1", "after-claim:18", "after-hold:20"])
def test_bridge_run_killed_between_a_batch_of_claims_and_their_turns(
        tmp_path: Path, clean: Path, head: str, point: str) -> None:
    """SIGKILL right after a batch is claimed (the first file, the second batch's second)
    or in the middle of one (a file renamed, not yet fetched): the claims are on the disk,
    their files at their names; the next `bridge run` writes the bytes and the ledger of a
    run that was never killed."""
    cfg = world(tmp_path / "w", HEADS[head])
    got = run(cfg, {"BRIDGE_KILL_AT": point})
    assert got.returncode == -signal.SIGKILL, got.stdout
    claimed = [f for f in rows(cfg) if f.state == "claimed"]
    if point.startswith("after-claim"):
        # the claim of the file killed at, and the rest of its batch: none renamed yet
        assert len(claimed) == CLAIM_BATCH - (int(point.split(":")[1]) - 1) % CLAIM_BATCH
        assert all(f.path in inbox(tmp_path / "w") for f in claimed)
    else:
        assert len(claimed) > 1
    again = run(cfg)
    assert again.returncode == 0, again.stdout
    assert tree(tmp_path / "w" / "erp") == tree(clean)
    assert ledger_view(cfg) == ledger_view(clean.parent / "bridge.yaml")
