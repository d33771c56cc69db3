"""A key the target's tracciato wants once is never written twice in one file.

Two shop orders, ``#2004`` and ``#2004-B``, both become ERP order 2004 by the sample's
``name | digits | int``. Each row is fine alone; the ERP file would hold two testate of
order 2004, which ``bridge check`` of bridge's own output refused. Now the row that repeats
the key is a bad row like a value too long for its field: reject-file refuses the file,
skip-rows leaves that order out and writes the rest, read whole or in chunks alike.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from bridge.codecs import decode
from bridge.config import load
from bridge.engine.out_keys import OutputKeys
from bridge.engine.runner import run_pass
from bridge.engine.tables import load_tracciato
from bridge.ledger import open_ledger
from bridge.spec.model import Tracciato
from tests.test_samples import NOON, sample_copy
from tests.test_streaming import ORDERS, big_orders, outputs, with_chunks


def renamed(data: bytes, old: bytes, new: bytes) -> bytes:
    """Every row of order ``old`` under the name ``new``."""
    return b"\n".join(new + line[len(old):] if line.startswith(old + b",") else line
                      for line in data.split(b"\n"))


#: The sample's rule that refuses an order name other than its number (#2004-B): without
#: it, two names become one ERP number, as a flow of another shop's names may make them.
NAME_RULE = (
    "            - {field: name, code: bad-pattern,\n"
    "               that: \"(name | replace('#', '')) == (name | digits)\n"
    "                      and (name | replace('#', '') | truncate(1)) != '0'\",\n"
    "               message: \"the ERP order number is the name's number: a name of other\n"
    "               characters would share another order's number\"}\n")


def ordini(tmp_path: Path, name: str, data: bytes, *, skip_rows: bool, chunk: int = 0,
           rule: bool = False
           ) -> tuple[Path, str, list[tuple[int | None, str, str | None, str | None, str]]]:
    """The sample's order flow over ``data`` (without its rule on names, unless ``rule``):
    its root, the file's state and its issues."""
    root = sample_copy(tmp_path / name).parent
    config = (root / "bridge.yaml").read_text(encoding="utf-8")
    assert NAME_RULE in config
    if not rule:
        (root / "bridge.yaml").write_text(config.replace(NAME_RULE, ""), encoding="utf-8")
    (root / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(data)
    cfg = with_chunks(load(root / "bridge.yaml"), chunk)
    if skip_rows:
        cfg = cfg.model_copy(update={"flows": {
            n: f.model_copy(update={"on_bad_rows": "skip-rows"}) for n, f in cfg.flows.items()}})
    run_pass(cfg, flows=["ordini"], clock=lambda: NOON)
    [outcome] = run_pass(cfg, flows=["ordini"], clock=lambda: NOON + 60).outcomes
    ledger = open_ledger(root / ".bridge" / "ledger.sqlite")  # or the tests' PostgreSQL
    try:
        issues = [(i.line, i.code, i.record, i.field, i.message)
                  for i in ledger.issues(outcome.file_id)]
    finally:
        ledger.close()
    return root, outcome.state, issues


def erp_testate(root: Path) -> tuple[list[int], list[str]]:
    """The order numbers of the ERP file, and what ``bridge check`` finds in it."""
    t = load_tracciato(load(root / "bridge.yaml"), "gestionale/ordini")
    decoded = decode(next((root / "erp" / "ordini").glob("*.TXT")).read_bytes(), t)
    return (decoded.tables["testata"]["numero_ordine"].tolist(),
            [i.code for i in decoded.issues if i.is_error])


def test_two_shop_orders_of_one_erp_number_refuse_the_file(tmp_path: Path) -> None:
    data = renamed(ORDERS.read_bytes(), b"#2005", b"#2004-B")
    root, state, issues = ordini(tmp_path, "reject", data, skip_rows=False)
    assert state == "rejected"
    dup = [i for i in issues if i[1] == "duplicate-key"]
    # #2004 is line 9 of the export, #2004-B line 10.
    assert [i[:4] for i in dup] == [(10, "duplicate-key", "testata", "numero_ordine")]
    assert "'2004'" in dup[0][4] and "line 9 has it too" in dup[0][4]
    assert "target 'erp'" in dup[0][4]
    assert outputs(root) == {}  # neither the ERP file nor the XML


def test_the_sample_refuses_an_order_name_other_than_its_number(tmp_path: Path) -> None:
    """The sample flow's own rule: #2004-B (or #02004) is refused on its line, before it
    could become ERP order 2004 in this file or after #2004 was sent in an earlier one."""
    for n, new in enumerate((b"#2004-B", b"#02004")):
        data = renamed(ORDERS.read_bytes(), b"#2005", new)
        root, state, issues = ordini(tmp_path, f"rule{n}", data, skip_rows=True, rule=True)
        assert state == "done"
        assert [i[:4] for i in issues if i[1] != "tax-mismatch"] == [
            (10, "bad-pattern", "riga", "name")]
        numbers, found = erp_testate(root)
        assert numbers == [2001, 2002, 2003, 2004, 2006] and found == []


def test_under_skip_rows_the_later_order_is_left_out(tmp_path: Path) -> None:
    data = renamed(ORDERS.read_bytes(), b"#2005", b"#2004-B")
    root, state, issues = ordini(tmp_path, "skip", data, skip_rows=True)
    assert state == "done"
    assert [i[:2] for i in issues if i[1] == "duplicate-key"] == [(10, "duplicate-key")]
    numbers, found = erp_testate(root)
    assert numbers == [2001, 2002, 2003, 2004, 2006] and found == []
    txt = next((root / "erp" / "ordini").glob("*.TXT")).read_bytes()
    assert b"SCALA-5" not in txt  # #2004-B's article, left out with its order
    assert b"BETON-160" in txt  # #2004's, written


@pytest.mark.parametrize("skip_rows", [True, False])
def test_keys_chunks_apart_are_found_as_in_the_whole_file(tmp_path: Path,
                                                          skip_rows: bool) -> None:
    """Order #100005 early, and late an order renamed #100005-B: many chunks apart."""
    data = big_orders(200)
    late = data.split(b"\n")[-30].split(b",")[0]
    data = renamed(data, late, b"#100005-B")
    found = {}
    for name, chunk in (("whole", 0), ("chunked", 4096)):
        root, state, issues = ordini(tmp_path, name, data, skip_rows=skip_rows, chunk=chunk)
        found[name] = (state, issues, outputs(root))
        if skip_rows:
            numbers, errors = erp_testate(root)
            assert numbers.count(100005) == 1 and errors == []
    state, issues, written = found["whole"]
    assert found["chunked"] == found["whole"]
    dup = [i for i in issues if i[1] == "duplicate-key"]
    assert len(dup) == 1 and dup[0][0] > data[:4096 * 3].count(b"\n")  # chunks apart
    assert state == ("done" if skip_rows else "rejected")
    assert bool(written) == skip_rows


def tracciato() -> Tracciato:
    return Tracciato.model_validate({
        "name": "t", "format": "delimited", "encoding": "utf-8",
        "records": {"r": {"fields": [{"name": "a"}, {"name": "b"}]}},
        "checks": {"unique": [{"record": "r", "fields": ["a", "b"]}]},
    })


def table(a: list[object], b: list[object], lines: list[int]) -> dict[str, pa.Table]:
    return {"r": pa.table({"a": a, "b": b, "_line": pa.array(lines, pa.int64())})}


def test_a_part_checked_again_is_checked_against_the_parts_written_only() -> None:
    keys = OutputKeys(tracciato(), "erp")
    assert keys.check(table(["x", "y"], ["1", "1"], [2, 3])) == []
    keys.keep()
    # checked, then refused (skip-rows left its rows out): its keys are not in the file
    assert keys.check(table(["z"], ["1"], [4])) == []
    again, twice = keys.check(table(["y", "w", "w"], ["1", "1", "1"], [5, 6, 7]))
    assert (again.line, again.value) == (5, "y/1") and "line 3 has it too" in again.message
    assert (twice.line, twice.value) == (7, "w/1") and "line 6 has it too" in twice.message
    assert [i.line for i in keys.check(table(["z", "w", "w"], ["1", "1", "1"], [5, 6, 7]))
            ] == [7]
    keys.keep()
    assert [i.line for i in keys.check(table(["z", "w"], ["1", "1"], [8, 9]))] == [8, 9]


def test_keys_compare_as_the_file_holds_them() -> None:
    """Trimmed, a missing value as an empty one, a number as its digits; a field apart
    from the next (``ab`` + ``c`` is not ``a`` + ``bc``)."""
    keys = OutputKeys(tracciato(), "erp")
    assert keys.check(table(["ab", "a"], ["c", "bc"], [2, 3])) == []
    keys.keep()
    found = keys.check(table([" ab ", "a", "q"], ["c", "bc ", None], [4, 5, 6]))
    assert [i.line for i in found] == [4, 5]
    keys.keep()
    assert [i.line for i in keys.check(table(["q"], [""], [7]))] == [7]
    numbers = OutputKeys(tracciato(), "erp")
    assert numbers.check({"r": pa.table({"a": [2004, 2004], "b": [None, None]})})[0].line \
        is None  # no _line: the row is not traceable, an error of the whole file


def test_every_repeated_key_of_many_parts_is_found_with_its_first_line() -> None:
    """Random keys over 30 parts against a plain dictionary of the keys written."""
    import numpy as np

    rng = np.random.default_rng(7)
    keys, first, line = OutputKeys(tracciato(), "erp"), {}, 1
    for _ in range(30):
        size = int(rng.integers(1, 400))
        values = [str(v) for v in rng.integers(0, 3000, size)]
        lines = list(range(line, line + size))
        line += size
        want = []
        for v, n in zip(values, lines, strict=True):
            if (v, "k") in first:
                want.append((n, first[v, "k"]))
            else:
                first[v, "k"] = n
        got = keys.check(table(values, ["k"] * size, lines))
        assert [(i.line, int(i.message.split("(line ")[1].split()[0])) for i in got] == want
        keys.keep()
    assert len(keys.keys) == len(first)
