"""``order: any``: the files of a flow carried on one by one, by whichever worker gets each
(the several workers of a PostgreSQL ledger are in tests/test_ledger_postgres.py).

Here, with one worker: no file waits behind another that cannot be written, what the flow
cannot promise in any order is refused when the configuration loads, and a dry run only
looks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge import faults
from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.errors import ConfigError, TransientError
from tests.flowkit import CONFIG, make_world, order_file

ANY = CONFIG.replace("      - dedupe: {key: [codice]}   # an article code already sent is not "
                     "sent again\n", "").replace("    steps:\n", "    steps: []\n")


def world(root: Path, order: str, files: int) -> Path:
    cfg = make_world(root, ANY.replace("    retry_backoff: 0\n",
                                       f"    retry_backoff: 3600\n    order: {order}\n"))
    for n in range(files):
        (root / "inbox" / f"o{n}.csv").write_text(order_file(n, 2), encoding="utf-8")
    return cfg


@pytest.mark.parametrize("order", ["arrival", "any"])
def test_a_file_that_cannot_be_written_holds_the_others_only_in_arrival_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: str) -> None:
    """The first file's output meets a full disk once, and is retried in an hour. In
    arrival order the other three wait behind it (the ERP gets them in order); with
    ``order: any`` the next pass writes them, numbered after the planned one."""
    cfg = world(tmp_path, order, 4)
    failed: list[str] = []

    def point(name: str) -> None:
        if name == "mid-write" and not failed:
            failed.append(name)
            raise TransientError("No space left on device")

    monkeypatch.setattr(faults, "point", point)
    one = run_pass(load(cfg))
    assert [(o.name, o.state) for o in one.outcomes][-1] == ("o0.csv", "retrying")
    assert one.exit_code == 3
    two = run_pass(load(cfg))
    erp = sorted(p.name for p in (tmp_path / "erp").glob("*.TXT"))
    if order == "arrival":
        assert two.outcomes == [] and any("waits behind file 1" in e for e in two.errors)
        assert erp == []
    else:
        assert [(o.name, o.state) for o in two.outcomes] == [
            ("o1.csv", "done"), ("o2.csv", "done"), ("o3.csv", "done")]
        assert two.exit_code == 0 and two.errors == []
        assert erp == ["ART00002.TXT", "ART00003.TXT", "ART00004.TXT"]  # 1 is o0's, planned
        codes = {p.read_text(encoding="cp1252")[:5] for p in (tmp_path / "erp").glob("*.TXT")}
        assert codes == {"A0001", "A0002", "A0003"}


def test_with_one_worker_every_file_is_written_once_as_in_arrival_order(
        tmp_path: Path) -> None:
    outputs = {}
    for order in ("arrival", "any"):
        cfg = world(tmp_path / order, order, 6)
        result = run_pass(load(cfg))
        assert result.exit_code == 0 and len(result.outcomes) == 6, result
        assert run_pass(load(cfg)).outcomes == []  # nothing twice
        outputs[order] = {p.name: p.read_bytes() for p in (tmp_path / order / "erp").iterdir()}
        assert list((tmp_path / order / "inbox").iterdir()) == []  # nothing left claimed
    assert outputs["any"] == outputs["arrival"] and len(outputs["any"]) == 12


@pytest.mark.parametrize(("change", "why"), [
    (("    steps: []\n", "    steps:\n      - dedupe: {key: [codice]}\n"),
     "steps[0].dedupe compares a file with what the files before it sent"),
    (("    retry_backoff: 3600\n", "    retry_backoff: 3600\n    archive: leave\n"),
     "archive: leave reads the files in place, unclaimed"),
])
def test_what_a_flow_cannot_do_in_any_order_is_refused_at_load(
        tmp_path: Path, change: tuple[str, str], why: str) -> None:
    cfg = world(tmp_path, "any", 0)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(*change), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(
            f"flows.articoli: order: any carries on several files at once, but {why}: keep "
            "order: arrival for this flow")):
        load(cfg)


def test_a_dry_run_of_a_flow_in_any_order_only_looks(tmp_path: Path) -> None:
    cfg = world(tmp_path, "any", 2)
    result = run_pass(load(cfg), dry_run=True)
    assert [(o.name, o.state) for o in result.outcomes] == [("o0.csv", "ready"),
                                                            ("o1.csv", "ready")]
    assert sorted(p.name for p in (tmp_path / "inbox").iterdir()) == ["o0.csv", "o1.csv"]
    assert not (tmp_path / "erp").exists()
