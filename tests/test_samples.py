"""The sample company of samples/: its flows run on a copy of the folder and write, byte for
byte, the golden files in samples/expected/ (erp/ for the ERP, shop/ for the shops)."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from bridge import spec
from bridge.cli import main
from bridge.codecs import decode
from bridge.config import load
from bridge.engine.runner import PassResult, run_pass

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
EXPECTED = SAMPLES / "expected"
#: 2025-11-08 12:00 UTC: the same calendar day in every time zone a test machine may use.
NOON = 1762603200.0


def sample_copy(tmp_path: Path) -> Path:
    """The sample company in tmp_path (never written in the repo); its bridge.yaml."""
    root = tmp_path / "samples"
    shutil.copytree(SAMPLES, root, ignore=shutil.ignore_patterns(
        "expected", "tracciati", "demo", ".bridge"))
    return root / "bridge.yaml"


def run_twice(cfg_path: Path, flows: list[str] | None = None) -> PassResult:
    """Two passes: the first sees the files, the second (past the readiness window) takes
    them; the sample's readiness rule is the one a real installation would use."""
    cfg = load(cfg_path)
    first = run_pass(cfg, flows=flows, clock=lambda: NOON)
    assert first.outcomes == []
    return run_pass(cfg, flows=flows, clock=lambda: NOON + 60)


def written(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_sample_orders_become_gestionale_ordini(tmp_path: Path) -> None:
    """Issue 3 §6: the Shopify order export becomes gestionale/ordini, with the customers'
    codes and agents from the ERP's customer export."""
    cfg = sample_copy(tmp_path)
    root = cfg.parent
    result = run_twice(cfg, ["ordini"])
    assert [(o.name, o.state) for o in result.outcomes] == [("orders_export_1.csv", "done")]
    assert result.exit_code == 0
    out = written(root / "erp" / "ordini")
    assert out == written(EXPECTED / "erp" / "ordini")
    assert not (root / "inbox" / "shopify" / "orders_export_1.csv").exists()
    assert list((root / "archive").rglob("orders_export_1.csv"))
    again = run_pass(load(cfg), flows=["ordini"], clock=lambda: NOON + 120)
    assert again.outcomes == [] and written(root / "erp" / "ordini") == out
    back = decode(next(iter((root / "erp" / "ordini").glob("*.TXT"))).read_bytes(),
                  spec.load("gestionale/ordini"))
    assert back.issues == []
    testata = back.tables["testata"].set_index("riferimento")
    assert testata.loc["#2001", ["codice_cliente", "codice_agente"]].tolist() == ["C00101",
                                                                               "A01"]
    assert str(testata.loc["#2001", "provvigione"]) == "5.00"


def test_every_sample_flow_writes_its_golden_files(tmp_path: Path, runner: CliRunner) -> None:
    cfg = sample_copy(tmp_path)
    root = cfg.parent
    result = run_twice(cfg)
    states = {o.flow: o.state for o in result.outcomes}
    assert states == {"ordini": "done", "clienti": "held", "clienti-negozio": "done",
                      "articoli": "done", "giacenze": "done"}
    # New customers wait for an operator; nothing reaches the ERP before.
    assert written(root / "erp" / "clienti") == {}
    held = next(o.file_id for o in result.outcomes if o.flow == "clienti")
    ok = runner.invoke(main, ["--config", str(cfg), "approve", str(held)])
    assert ok.exit_code == 0, ok.output
    after = run_pass(load(cfg), clock=lambda: NOON + 120)
    assert [(o.flow, o.state) for o in after.outcomes] == [("clienti", "done")]
    for top in ("erp", "shop"):
        assert written(root / top) == written(EXPECTED / top)
    # The ERP's nightly exports stay where they are: orders read them too.
    assert (root / "erp-exports" / "listino.csv").exists()
    assert (root / "erp-exports" / "clienti.csv").exists()
    # Unchanged exports are not sent again.
    idle = run_pass(load(cfg), clock=lambda: NOON + 180)
    assert idle.outcomes == [] and written(root / "shop") == written(EXPECTED / "shop")
