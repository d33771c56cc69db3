"""Delta sync (issue 5 §5): master-data flows send only what changed since the last
successful send, by business key, remembered in the ledger; `--full` sends everything."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.runner import run_pass
from tests.test_samples import NOON, run_twice, sample_copy


def products(cfg: Path) -> list[list[str]]:
    """Each Shopify product file written so far, oldest first, as its data lines."""
    folder = cfg.parent / "shop" / "shopify"
    files = sorted(folder.glob("products*"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [p.read_text(encoding="utf-8-sig").splitlines()[1:] for p in files
            if not p.name.endswith(".ok")]


def rewrite(listino: Path, old: bytes, new: bytes, when: float) -> None:
    data = listino.read_bytes()
    assert old in data
    listino.write_bytes(data.replace(old, new))
    os.utime(listino, (when, when))


def test_only_changed_articles_are_sent_again(tmp_path: Path, runner: CliRunner) -> None:
    cfg = sample_copy(tmp_path)
    first = run_twice(cfg, ["articoli"])
    assert [o.state for o in first.outcomes] == ["done"]
    sent = products(cfg)
    assert len(sent) == 1 and len(sent[0]) > 3
    # The ERP rewrites its price list at night: one price changed, the rest as before.
    listino = cfg.parent / "erp-exports" / "listino.csv"
    rewrite(listino, b"BETON-160;1;318,85;", b"BETON-160;1;320,00;", NOON + 100)
    load_cfg = load(cfg)
    assert run_pass(load_cfg, flows=["articoli"], clock=lambda: NOON + 200).outcomes == []
    second = run_pass(load_cfg, flows=["articoli"], clock=lambda: NOON + 300)
    assert [o.state for o in second.outcomes] == ["done"]
    delta = products(cfg)[-1]
    assert len(delta) == 1 and "BETON-160" in delta[0] and "390.40" in delta[0]
    # Nothing changed at all: nothing is sent (the same content again is a no-op).
    assert run_pass(load_cfg, flows=["articoli"], clock=lambda: NOON + 400).outcomes == []
    # --full sends every article again, changed or not.
    rewrite(listino, b"BETON-160;1;320,00;", b"BETON-160;1;321,00;", NOON + 500)
    assert run_pass(load_cfg, flows=["articoli"], clock=lambda: NOON + 600).outcomes == []
    full = run_pass(load_cfg, flows=["articoli"], clock=lambda: NOON + 700, full=True)
    assert [o.state for o in full.outcomes] == ["done"]
    assert len(products(cfg)[-1]) == len(sent[0])
    flag = runner.invoke(main, ["--config", str(cfg), "run", "--flow", "articoli", "--full",
                                "--dry-run"])
    assert flag.exit_code == 0, flag.output
