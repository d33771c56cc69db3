"""The README's "Adapting bridge to your ERP", done on a copy of the sample company: one
more field in the company's own copy of gestionale/ordini, and a lookup that holds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bridge import spec
from bridge.codecs import decode
from tests.test_samples import run_twice, sample_copy

SHIPPED = Path(__file__).resolve().parents[1] / "tracciati" / "gestionale" / "ordini.yaml"


def test_a_field_added_to_a_local_copy_of_the_layout(tmp_path: Path) -> None:
    cfg = sample_copy(tmp_path)
    root = cfg.parent
    layout = SHIPPED.read_text(encoding="utf-8")
    filler = "      - {name: riservato, type: filler, start: 115, length: 6}\n"
    assert filler in layout
    (root / "tracciati" / "gestionale").mkdir(parents=True)
    (root / "tracciati" / "gestionale" / "ordini.yaml").write_text(layout.replace(
        filler, "      - {name: data_consegna, type: date, format: '%y%m%d', start: 115, "
        "length: 6}\n"), encoding="utf-8")
    text = cfg.read_text(encoding="utf-8")
    text = text.replace("reports_dir: .bridge/reports\n",
                        "reports_dir: .bridge/reports\ntracciati: [tracciati]\n")
    text = text.replace("              riferimento: name\n",
                        "              riferimento: name\n"
                        "              data_consegna: \"created_at | date\"\n")
    cfg.write_text(text, encoding="utf-8")
    assert [o.state for o in run_twice(cfg, ["ordini"]).outcomes] == ["done"]
    data = next((root / "erp" / "ordini").glob("*.TXT")).read_bytes()
    assert data.split(b"\r\n")[0][114:120] == b"251103"
    local = spec.load("gestionale/ordini", [root / "tracciati"])
    back = decode(data, local)
    assert back.issues == []
    assert back.tables["testata"]["data_consegna"].tolist()[0] == dt.date(2025, 11, 3)
