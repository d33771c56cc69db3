"""A file is the bytes that were claimed: a sender reusing a name never loses a version.

Shopify exports always arrive as ``orders_export_1.csv``. Whatever bridge is doing with one
version when the next one arrives (failing at its target, waiting for approval, being
downloaded), every version ends written or waiting in the folder, and the archive holds,
byte for byte, what the ledger says it holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import pytest

from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.ledger import Ledger, open_ledger
from bridge.transport import TargetExists
from tests.flowkit import CONFIG, bridge_cli, make_world, order_file
from tests.flowkit.spy import Spying
from tests.sshd import Sshd, shared_sshd_fixture  # noqa: F401  (a fixture)
from tests.test_sftp_flows import World


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def codes_of(text: str) -> list[str]:
    return [line.split(";")[0] for line in text.splitlines()[1:]]


def erp_codes(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return [line[:10].decode().strip() for p in sorted(folder.glob("*.TXT"))
            for line in p.read_bytes().split(b"\r\n") if line]


def archived(ledger: Ledger, root: Path) -> dict[str, bytes]:
    """sha256 of each file done -> the bytes where the ledger says they were archived."""
    out = {}
    for row in ledger.files(states=frozenset({"done"})):
        detail = [e.detail for e in ledger.events(row.id) if e.state == "done"][-1] or ""
        assert detail.startswith("archived to "), detail
        out[row.sha256] = (root / detail.removeprefix("archived to ")).read_bytes()
    return out


def archive_holds(config_root: Path, source_root: Path) -> dict[str, bytes]:
    ledger = open_ledger(config_root / "state" / "ledger.sqlite")
    try:
        return archived(ledger, source_root)
    finally:
        ledger.close()


def replace(path: Path, text: str) -> None:
    """What a sender's client does: write a temporary name, then rename it over the old."""
    tmp = path.with_name(f".{path.name}.upload")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def cli_run(cfg: Path) -> tuple[int, list[dict[str, object]]]:
    """`bridge run --log-json` in a subprocess: its exit code and its outcomes."""
    got = bridge_cli(cfg, "run", "--log-json")
    assert "Traceback" not in got.stdout + got.stderr
    outcomes = [json.loads(line) for line in got.stdout.splitlines()]
    for o in outcomes:  # when and how loud: the same on every line, not what is tested here
        assert o.pop("event") == o["state"]
        del o["ts"], o["level"], o["error"]
    return got.returncode, outcomes


def test_a_new_version_while_the_first_fails_at_its_target(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    inbox, erp = tmp_path / "inbox", tmp_path / "erp"
    v1, v2 = order_file(1, rows=2), order_file(2, rows=3)
    erp.write_text("a file where the folder should be", encoding="utf-8")
    (inbox / "a.csv").write_text(v1, encoding="utf-8")
    code, outcomes = cli_run(cfg)
    assert (code, [o["state"] for o in outcomes]) == (3, ["retrying"])
    replace(inbox / "a.csv", v2)  # the sender uploads again, other orders, same name
    erp.unlink()  # the target works again
    code, outcomes = cli_run(cfg)
    assert code == 0
    assert [(o["file"], o["state"]) for o in outcomes] == [("a.csv", "done"), ("a.csv", "done")]
    # the first version first, under the name planned for it; then the second
    assert [o["outputs"] for o in outcomes] == [["ART00001.TXT"], ["ART00002.TXT"]]
    assert erp_codes(erp) == codes_of(v1) + codes_of(v2)
    assert archive_holds(tmp_path, tmp_path) == {sha(v.encode()): v.encode() for v in (v1, v2)}


def test_a_new_version_while_the_first_is_held_for_approval(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0",
                                              "retry_backoff: 0\n    approval: true"))
    inbox = tmp_path / "inbox"
    v1, v2 = order_file(1, rows=2), order_file(2, rows=3)
    (inbox / "a.csv").write_text(v1, encoding="utf-8")
    assert cli_run(cfg) == (1, [{"flow": "articoli", "file": "a.csv", "state": "held", "id": 1,
                                 "issues": 0, "outputs": [], "report": None,
                                 "message": "waits for an operator's approval"}])
    replace(inbox / "a.csv", v2)
    # the new version is its own file: taken, and held in its turn
    code, outcomes = cli_run(cfg)
    assert (code, [(o["id"], o["state"]) for o in outcomes]) == (1, [(2, "held")])
    assert bridge_cli(cfg, "approve", "1").returncode == 0
    code, outcomes = cli_run(cfg)
    assert (code, [(o["id"], o["state"]) for o in outcomes]) == (0, [(1, "done")])
    assert erp_codes(tmp_path / "erp") == codes_of(v1)
    assert bridge_cli(cfg, "approve", "2").returncode == 0
    code, outcomes = cli_run(cfg)
    assert (code, [(o["id"], o["state"]) for o in outcomes]) == (0, [(2, "done")])
    assert erp_codes(tmp_path / "erp") == codes_of(v1) + codes_of(v2)
    assert archive_holds(tmp_path, tmp_path) == {sha(v.encode()): v.encode() for v in (v1, v2)}


TRIALS = 100


def race(config: Path, source_root: Path, erp: Path, rng: random.Random, trial: int) -> None:
    """One trial: the sender replaces a.csv at the k-th transport call of a pass."""
    inbox = source_root / "inbox"
    v1, v2 = order_file(1000 + trial, rows=2), order_file(2000 + trial, rows=3)
    (inbox / "a.csv").write_text(v1, encoding="utf-8")
    k = rng.randint(1, 14)
    state = {"replaced": False, "v1_held": False}

    def hook(conn: str, op: str, n: int, args: tuple[object, ...]) -> None:
        if n == k and not state["replaced"]:
            replace(inbox / "a.csv", v2)
            state["replaced"] = True

    spying = Spying(hook)
    run_pass(load(config), connect=spying)
    # Was v1 renamed to its private name before the sender replaced it? Then it is bridge's
    # to deliver; otherwise the sender overwrote it before bridge took anything.
    claims = [i for i, (_, op, args) in enumerate(spying.log)
              if op == "move" and str(args[3]).startswith(".bridge-claim-")]
    state["v1_held"] = bool(claims) and claims[0] < k - 1
    if not state["replaced"]:
        replace(inbox / "a.csv", v2)
    for _ in range(2):
        run_pass(load(config))
    expected = ([v1] if state["v1_held"] else []) + [v2]
    done = archive_holds(config.parent, source_root)
    assert done == {sha(v.encode()): v.encode() for v in expected}, (trial, k, spying.log)
    assert sorted(erp_codes(erp)) == sorted(c for v in expected for c in codes_of(v)), k
    assert [p.name for p in inbox.iterdir()] == [], (trial, k)


def test_a_sender_replacing_a_file_at_any_moment_loses_nothing_local(tmp_path: Path) -> None:
    rng = random.Random(8)
    for trial in range(TRIALS):
        root = tmp_path / str(trial)
        root.mkdir()
        race(make_world(root), root, root / "erp", rng, trial)


@pytest.mark.slow
def test_a_sender_replacing_a_file_at_any_moment_loses_nothing_sftp(
        shared_sshd: Sshd, tmp_path: Path) -> None:
    rng = random.Random(9)
    for trial in range(TRIALS):
        root = tmp_path / str(trial)
        root.mkdir()
        world = World(root, shared_sshd)
        race(world.config, world.shop, world.erp / "erp", rng, trial)


@pytest.mark.parametrize("kernel", [True, False], ids=["renameat2", "fallback"])
def test_a_local_move_never_removes_a_version_it_did_not_move(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: bool) -> None:
    """The sender replaces the file right after bridge's first system call on it: whatever
    that call is, the new version must survive (a link then an unlink would delete it)."""
    import bridge.files as files
    import bridge.transport.local as local

    if not kernel:
        monkeypatch.setattr(files, "_renameat2", None)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text("v1", encoding="utf-8")
    real_link, real_rename = os.link, os.rename

    def sender_acts() -> None:
        replace(inbox / "a.csv", "v2")

    def link(src: object, dst: object) -> None:
        real_link(src, dst)  # type: ignore[arg-type]
        sender_acts()

    def rename(src: object, dst: object) -> None:
        real_rename(src, dst)  # type: ignore[arg-type]
        sender_acts()

    monkeypatch.setattr(local.os, "link", link)
    monkeypatch.setattr(local.os, "rename", rename)
    if kernel:
        real = files._renameat2
        assert real is not None

        def renameat2(*args: object) -> int:
            got = real(*args)
            sender_acts()
            return int(got)

        monkeypatch.setattr(files, "_renameat2", renameat2)
    local.LocalTransport(tmp_path).move("inbox", "a.csv", "inbox", ".bridge-claim-1")
    assert (inbox / ".bridge-claim-1").read_text(encoding="utf-8") == "v1"
    assert (inbox / "a.csv").read_text(encoding="utf-8") == "v2"  # the new version stays
    with pytest.raises(TargetExists):
        local.LocalTransport(tmp_path).move("inbox", "a.csv", "inbox", ".bridge-claim-1")
