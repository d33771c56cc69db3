"""Chaos: 300 files, good ones mixed with every kind of poison, and `bridge run` killed with
SIGKILL at named points and at random moments, again and again.

At the end every good file is delivered exactly once, byte-identical (names included) to a
clean run over the good files alone; every bad one is in quarantine with its two reports;
no file is left in a state that would block its flow.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from bridge.config import load
from bridge.ledger import open_ledger
from tests.flowkit import order_file
from tests.test_boundary import poison_world
from tests.test_exactly_once import bridge_run, tree

HEADER = "codice;descrizione;prezzo;qty\n"
#: Poison kinds: what the sender's bytes are, and the code their report must name.
POISONS: dict[str, tuple[bytes, str]] = {
    "emoji": (f"{HEADER}Pz{{n}};Conti 😀;1,05;1\n".encode(), "unencodable"),
    "sku": (f"{HEADER}Pz{{n}}LUNGOLUNGO;Articolo;1,05;1\n".encode(), "too-long"),
    "crlf": (f'{HEADER}Pz{{n}};"Riga\r\nmezza";1,05;1\n'.encode(), "control-character"),
    "decimal": (f"{HEADER}Pz{{n}};Articolo;1,0x;1\n".encode(), "bad-decimal"),
    "columns": (f"{HEADER}Pz{{n}};Articolo\n".encode(), "wrong-column-count"),
    # ends inside a quoted cell: incomplete; with max_wait 0, refused at once as truncated
    "quote": (f'{HEADER}Pz{{n}};"Articolo;1,05;1\n'.encode(), "truncated-file"),
    "latin1": (f"{HEADER}Pz{{n}};Articolo \xe8;1,05;1\n".encode("latin-1"), "bad-encoding"),
    "empty": (b"", "empty-file"),
    "delimiters": (f"{HEADER};;;\n".encode(), "missing-required"),
    "nul": (f"{HEADER}Pz{{n}};Arti\x00colo;1,05;1\n".encode(), "nul-byte"),
}
FILES = 300
POINTS = ["after-claim", "after-hold", "mid-write", "after-rename", "before-output-commit",
          "after-plan", "before-written", "after-archive"]


def files(rng: random.Random) -> tuple[dict[str, bytes], dict[str, str]]:
    good: dict[str, bytes] = {}
    bad: dict[str, str] = {}
    kinds = sorted(POISONS)
    for n in range(FILES):
        name = f"f{n:04d}.csv"
        if n % 5 == 2:
            kind = kinds[(n // 5) % len(kinds)]
            data, code = POISONS[kind]
            good_or_bad = data.replace(b"{n}", str(n).encode())
            bad[name] = code
            good[name] = good_or_bad
        else:
            good[name] = order_file(n, rng.randint(1, 4)).encode()
    return good, bad


@pytest.mark.slow
def test_chaos_every_good_file_once_every_bad_one_quarantined(tmp_path: Path) -> None:
    rng = random.Random(300)
    everything, bad = files(rng)
    worlds = {name: poison_world(tmp_path / name) for name in ("clean", "chaos")}
    for cfg in worlds.values():
        cfg.write_text(cfg.read_text(encoding="utf-8").replace(
            "{window: 0, min_age: 0}", "{window: 0, min_age: 0, max_wait: 0}"), encoding="utf-8")
    for name, data in everything.items():
        if name not in bad:
            (tmp_path / "clean" / "inbox" / name).write_bytes(data)
        (tmp_path / "chaos" / "inbox" / name).write_bytes(data)
    code, out = bridge_run(worlds["clean"])
    assert code == 0, out
    clean = tree(tmp_path / "clean" / "erp")
    assert len(clean) == 2 * (FILES - len(bad))

    kills = 0
    plan = [(p, rng.randint(1, 8)) for p in POINTS for _ in range(3)]
    rng.shuffle(plan)
    for point, nth in plan:
        code, _ = bridge_run(worlds["chaos"], {"BRIDGE_KILL_AT": f"{point}:{nth}"})
        kills += code == -signal.SIGKILL
    for _ in range(10):
        code, _ = bridge_run(worlds["chaos"], kill_after=rng.uniform(0.8, 2.0))
        kills += code == -signal.SIGKILL
    assert kills >= 20
    deadline = time.monotonic() + 300
    while True:
        code, out = bridge_run(worlds["chaos"])
        assert code in (0, 1), out
        if "nothing to do" in out:
            break
        assert time.monotonic() < deadline, out

    chaos = tmp_path / "chaos"
    assert tree(chaos / "erp") == clean  # the same names, the same bytes, once each
    quarantine = chaos / "quarantine"
    for name, code in bad.items():
        assert (quarantine / name).read_bytes() == everything[name]
        assert code in (quarantine / f"{name}.issues.csv").read_text(encoding="utf-8-sig")
        assert (quarantine / f"{name}.report.html").exists()
    assert list((chaos / "inbox").iterdir()) == []
    assert not [p for p in chaos.rglob("*") if p.name.endswith((".part", ".download"))]
    cfg = load(worlds["chaos"])
    ledger = open_ledger(cfg.path(cfg.ledger))
    try:
        states = {(r.path, r.state) for r in ledger.files()}
    finally:
        ledger.close()
    assert states == {(n, "rejected" if n in bad else "done") for n in everything}
