"""A template whose own code raises on the values of one file (a division by a quantity
that is zero, a text added to a number): a mistake of the template, not of bridge.

The flow stops with a configuration error that names the template, its block and what was
raised; nothing of the file is published, by that target or the others; the file waits,
taken, and once the template is mended the next pass writes what a clean run writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.errors import ConfigError, TransientError
from bridge.ledger import open_ledger
from bridge.templating import render_file, render_name
from tests.test_samples import NOON, sample_copy
from tests.test_streaming import big_orders, outputs, with_chunks

TEMPLATE = Path("templates") / "easyfatt-ordini.xml"
#: The sample's orders hold a line of 10 pieces: ``1 // (10 - 10)`` raises on it.
FAULT = "<Qty>{{ r.quantita }}</Qty><X>{{ 1 // ((r.quantita | int) - 10) }}</X>"


def passes(root: Path, chunk: int, *clocks: float) -> list[tuple[int, list[str]]]:
    """One pass of the sample's ``ordini`` flow at each clock; the exit code and the
    configuration errors of each."""
    cfg = with_chunks(load(root / "bridge.yaml"), chunk)
    got = [run_pass(cfg, flows=["ordini"], clock=lambda c=c: c) for c in clocks]
    return [(r.exit_code, r.config_errors) for r in got]


@pytest.mark.parametrize("chunk", [0, 4096])
def test_a_template_raising_on_a_file_stops_the_flow_and_the_mended_template_writes_it(
        tmp_path: Path, chunk: int) -> None:
    data = big_orders(30)  # 180 orders, 74 KB: read in chunks of 4 KB, or whole
    clean = sample_copy(tmp_path / "clean").parent
    (clean / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(data)
    assert passes(clean, chunk, NOON, NOON + 60) == [(0, []), (0, [])]
    root = sample_copy(tmp_path / "faulty").parent
    (root / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(data)
    template = root / TEMPLATE
    good = template.read_text(encoding="utf-8")
    assert good.count("<Qty>{{ r.quantita }}</Qty>") == 1
    template.write_text(good.replace("<Qty>{{ r.quantita }}</Qty>", FAULT), encoding="utf-8")

    first, (code, second) = passes(root, chunk, NOON, NOON + 60)
    assert first == (0, []) and code == 2
    assert len(second) == 1 and second[0].startswith("ordini: template ")
    assert "block each: ZeroDivisionError: integer division or modulo by zero" in second[0]
    # The first order (lines 2-3 of the file) holds the line of 10 pieces: its line is said.
    assert second[0].endswith("on the values of this file, the record of line 2 of "
                              "orders_export_1.csv)")
    assert not (root / "erp" / "ordini").exists() or not any((root / "erp" / "ordini").iterdir())
    assert not (root / "erp" / "easyfatt").exists() or \
        not any((root / "erp" / "easyfatt").iterdir())
    ledger = open_ledger(root / ".bridge" / "ledger.sqlite")
    try:
        (taken,) = [f for f in ledger.files() if f.flow == "ordini"]
        assert taken.state not in ("failed", "rejected", "done")  # waits, taken
    finally:
        ledger.close()

    template.write_text(good, encoding="utf-8")
    assert passes(root, chunk, NOON + 120) == [(0, [])]
    got, want = outputs(root), outputs(clean)
    orders = sorted(k for k in want if k.startswith(("erp/ordini/", "erp/easyfatt/")))
    assert len(orders) == 3  # the fixed-width file, its done-file and the XML
    assert {k: got[k] for k in orders} == {k: want[k] for k in orders}


def test_a_whole_template_or_a_file_name_raising_is_a_configuration_error(tmp_path: Path
                                                                        ) -> None:
    template = tmp_path / "t.xml"
    template.write_text("<a>{{ n // 0 }}</a>", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"t\.xml: ZeroDivisionError: .*template's own code"):
        render_file(template, {"n": 1}, "xml")
    with pytest.raises(ConfigError, match=r"file name template .*: TypeError: "):
        render_name("OUT{{ seq + 'x' }}.TXT", {"seq": 1})

    def away() -> None:
        raise TransientError("the server went away")

    template.write_text("<a>{{ away() }}</a>", encoding="utf-8")
    with pytest.raises(TransientError):  # bridge's own errors stay what they are
        render_file(template, {"away": away}, "xml")
