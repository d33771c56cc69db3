"""Decoding never raises on data, and reading in chunks gives what reading whole gives.

A fuzz over every shipped tracciato mutates its sample files (truncations, stray bytes,
lines moved, dropped or doubled, wrong record types, blank or garbled numbers, random
bytes) and checks, for each input: ``decode`` returns, its values are usable, and
``iter_decode`` with a small ``chunk_bytes`` gives the same tables and the same issues.
With a small cap on issues, both keep the same ones: the issues of the whole file, and the
first issues of rows in file order (by line, then by code, record, field, value and
message), and count the same others. What it found is in tests/test_decode_found.py, one
minimal input each.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.codecs import Decoded, decode, iter_decode
from bridge.issues import Issue
from bridge.spec import load
from bridge.spec.loader import SHIPPED, available
from bridge.spec.model import Tracciato

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "tracciati"
#: Examples per tracciato: under two minutes in all on two cores. Raise it to hunt
#: (ten times as many found nothing more when this was written).
EXAMPLES = int(os.environ.get("BRIDGE_FUZZ_EXAMPLES", "100"))


def key(i: Issue) -> tuple[int, str, str, str, str, str]:
    return (-1 if i.line is None else i.line, i.code, i.record or "", i.field or "",
            i.value or "", i.message)


def assert_same(whole: Decoded, parts: list[Decoded]) -> None:
    """The chunks, laid end to end, are the whole: tables and issues (in any order)."""
    names = {n for p in parts for n in p.tables}
    assert names == set(whole.tables)
    for name, df in whole.tables.items():
        joined = pd.concat([p.tables[name] for p in parts if name in p.tables],
                           ignore_index=True)
        pd.testing.assert_frame_equal(joined, df)
    chunked = sorted((i for p in parts for i in p.issues), key=key)
    assert chunked == sorted(whole.issues, key=key)


#: A cap on issues that most mutated samples go past.
CAP = 3
#: Issues of the whole file, kept outside the cap: found once, or only at the end (a
#: ``bad-encoding`` is an issue of its line's row, one a line).
FILE_CODES = {"nul-byte", "bom-in-middle", "trailer-count-mismatch"}


def of_file(i: Issue) -> bool:
    return i.line is None or i.code in FILE_CODES


def assert_capped(whole: Decoded, capped: Decoded, cap: int) -> None:
    """The capped decode keeps the first ``cap`` issues of rows, and of the issues of the
    file (few, unless the cap is tiny), and counts every other one by code, record and
    field."""
    rows = sorted((i for i in whole.issues if not of_file(i)), key=key)
    kept = [i for i in capped.issues if i.code != "too-many-issues"]
    assert sorted((i for i in kept if not of_file(i)), key=key) == rows[:cap]
    files = Counter(filter(of_file, whole.issues))
    kept_files = Counter(filter(of_file, kept))
    assert kept_files <= files and kept_files.total() >= min(cap, files.total())
    left = Counter((i.code, i.record, i.field) for i in [*rows[cap:], *(files - kept_files)])
    assert capped.left_out == left
    summaries = [i for i in capped.issues if i.code == "too-many-issues"]
    assert len(summaries) == (1 if left else 0)


def decoded(data: bytes, t: Tracciato, sizes: tuple[int, ...] = (1, 7, 64, 300)) -> Decoded:
    """The whole decode, once every chunked decode has been checked against it, capped
    and not."""
    whole = decode(data, t)
    for df in whole.tables.values():
        for col in df.columns:
            df[col].tolist()  # every value can be taken out (no date of the year 0)
    for size in sizes:
        assert_same(whole, list(iter_decode(data, t, chunk_bytes=size)))
    if len(whole.issues) > CAP:
        capped = decode(data, t, max_issues=CAP)
        assert_capped(whole, capped, CAP)
        for size in sizes:
            parts = list(iter_decode(data, t, chunk_bytes=size, max_issues=CAP))
            assert_same(capped, parts)
            assert parts[-1].left_out == capped.left_out
    return whole


def codes(d: Decoded) -> list[tuple[str, int | None]]:
    return sorted(((i.code, i.line) for i in d.issues), key=str)


# --- the fuzz ---------------------------------------------------------------------------

def shipped() -> list[str]:
    return sorted(n for n, path in available().items() if path.is_relative_to(SHIPPED))


def samples(name: str) -> list[bytes]:
    system, stem = name.split("/")
    return [p.read_bytes() for p in sorted((SAMPLES / system).glob(f"{stem}.*"))]


def lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


STRAY = [b",", b";", b'"', b"\r", b"\n", b"\r\n", b"\x00", b"\xef\xbb\xbf", b"\x1a", b"\t",
         b"|", b"\\", b" ", b"-", b"+", b"0", b"\xe8", b"\xff", b"\xc3"]
ODD_LINES = [b"\r\n", b"\n", b"\r", b";;;;\r\n", b",,,,,\n", b'""\r\n', b"   \r\n", b'"\n']
Op = Callable[[st.DataObject, bytes, Tracciato], bytes]


def _at(draw: st.DataObject, data: bytes) -> int:
    return draw.draw(st.integers(0, len(data)))


def _truncate(draw: st.DataObject, data: bytes, t: Tracciato) -> bytes:
    return data[:_at(draw, data)]


def _insert(draw: st.DataObject, data: bytes, t: Tracciato) -> bytes:
    at, what = _at(draw, data), draw.draw(st.sampled_from(STRAY))
    return data[:at] + what * draw.draw(st.integers(1, 3)) + data[at:]


def _quote_a_cell(draw: st.DataObject, data: bytes, t: Tracciato) -> bytes:
    starts = [m.end() for m in re.finditer(rb"[,;\n]", data)]
    if not starts:
        return data
    at = draw.draw(st.sampled_from(starts))
    return data[:at] + b'"' + data[at:]


def _delete(draw: st.DataObject, data: bytes, t: Tracciato) -> bytes:
    at = _at(draw, data)
    return data[:at] + data[at + draw.draw(st.integers(1, 40)):]


def _move_line(draw: st.DataObject, data: bytes, t: Tracciato) -> bytes:
    ls = lines(data)
    if not ls:
        return data
    line = ls.pop(draw.draw(st.integers(0, len(ls) - 1)))
    ls.insert(draw.draw(st.integers(0, len(ls))), line)
    return b"".join(ls)


def _double_or_drop_line(draw: st.DataObject, data: bytes, t: Tracciato) -> bytes:
    ls = lines(data)
    if not ls:
        return data
    i = draw.draw(st.integers(0, len(ls) - 1))
    ls[i:i + 1] = [ls[i]] * draw.draw(st.integers(0, 3))
    return b"".join(ls)


def _record_type(draw: st.DataObject, data: bytes, t: Tracciato) -> bytes:
    """A line of another record type, or of none (a child before any parent, too)."""
    ls = lines(data)
    if not ls:
        return data
    whens = [w for rec in t.records.values() for w in rec.when] + ["X", " ", ";", "0"]
    i = draw.draw(st.integers(0, len(ls) - 1))
    ls[i] = draw.draw(st.sampled_from(whens)).encode() + ls[i][1:]
    return b"".join(ls)


def _number(draw: st.DataObject, data: bytes, t: Tracciato) -> bytes:
    """A run of digits made blank, letters, or nothing (a trailer count among them)."""
    runs = list(re.finditer(rb"[0-9]+", data))
    if not runs:
        return data
    run = draw.draw(st.sampled_from(runs))
    fill = draw.draw(st.sampled_from([b" ", b"A", b"", b"-"]))
    return data[:run.start()] + fill * len(run.group()) + data[run.end():]


def _odd_lines(draw: st.DataObject, data: bytes, t: Tracciato) -> bytes:
    ls = lines(data)
    at = draw.draw(st.integers(0, len(ls)))
    ls.insert(at, draw.draw(st.sampled_from(ODD_LINES)) * draw.draw(st.integers(1, 6)))
    return b"".join(ls)


def _cut_line(draw: st.DataObject, data: bytes, t: Tracciato) -> bytes:
    ls = lines(data)
    if not ls:
        return data
    i = draw.draw(st.integers(0, len(ls) - 1))
    end = draw.draw(st.sampled_from([b"\r\n", b"\n", b"\r", b""]))
    ls[i] = ls[i][:draw.draw(st.integers(0, len(ls[i])))] + end
    return b"".join(ls)


def _random(draw: st.DataObject, data: bytes, t: Tracciato) -> bytes:
    return draw.draw(st.binary(max_size=300))


OPS: list[Op] = [_truncate, _insert, _insert, _quote_a_cell, _delete, _move_line,
                 _double_or_drop_line, _record_type, _number, _odd_lines, _cut_line, _random]


@pytest.mark.slow
@pytest.mark.parametrize("name", shipped())
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(draw=st.data())
def test_decode_never_raises_and_chunks_agree(name: str, draw: st.DataObject) -> None:
    fuzz_once(draw, load(name), samples(name))


def fuzz_once(draw: st.DataObject, t: Tracciato, bases: list[bytes]) -> None:
    data = draw.draw(st.sampled_from(bases), label="sample")
    for op in draw.draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=4), label="ops"):
        data = op(draw, data, t)
    # No minimum: one byte at a time is the hardest cut of all.
    size = draw.draw(st.sampled_from([1, 2, 16, 100, 300, 600]), label="chunk_bytes")
    decoded(data, t, (size,))


def dialect(name: str, **change: object) -> Tracciato:
    t = load(name)
    return t.model_copy(update={"delimited": t.dialect.model_copy(update=change)})


#: Paths the shipped tracciati take less: the csv module reading the chunks and pyarrow the
#: whole (an escape character), a first row counting the columns, empty lines as rows,
#: comments, lines shorter than the record, several record types in a delimited file.
VARIANTS: dict[str, Callable[[], tuple[Tracciato, list[bytes]]]] = {
    "escaped": lambda: (dialect("shopify/ordini", escape_char="\\"),
                        samples("shopify/ordini")),
    "headerless": lambda: (dialect("gestionale/clienti", header_rows=0, skip_rows=1,
                                   match_columns="position"), samples("gestionale/clienti")),
    "empty lines are rows": lambda: (dialect("sap-b1/ordini-righe", skip_blank_rows=False),
                                     samples("sap-b1/ordini-righe")),
    "comments": lambda: (dialect("mexal/articoli", comment_prefix="#"),
                         samples("mexal/articoli")),
    "variable length": lambda: (load("gestionale/ordini").model_copy(update={"fixed": None}),
                                samples("gestionale/ordini")),
    "delimited with a coda": lambda: (orders("decimal"), [
        b'T;1;15,00\r\nR;A;10,00\r\nR;"B;\r\nb";5,00\r\nT;2;2,50\r\nR;C;2,50\r\nZ;6\r\n']),
}


def orders(amounts: str) -> Tracciato:
    """Orders in a delimited file: testata, righe and a coda, told apart by column 1."""
    amount = {"type": amounts, "decimal_separator": ","}
    return Tracciato.model_validate({
        "format": "delimited", "delimited": {"delimiter": ";", "header_rows": 0,
                                             "match_columns": "position"},
        "discriminator": {"index": 1},
        "records": {
            "testata": {"when": "T", "min_children": 1, "fields": [
                {"name": "tipo"}, {"name": "numero", "type": "integer", "required": True},
                {"name": "totale", **amount}]},
            "righe": {"when": "R", "parent": "testata", "fields": [
                {"name": "tipo"}, {"name": "articolo", "required": True},
                {"name": "importo", **amount}]},
            "coda": {"when": "Z", "occurs": "last", "fields": [
                {"name": "tipo"}, {"name": "n", "type": "integer"}]}},
        "checks": {"control_totals": [{"parent": "testata", "field": "totale",
                                       "child": "righe", "sum": "importo"}],
                   "trailer_count": {"record": "coda", "field": "n"}}})


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
@settings(max_examples=EXAMPLES // 3, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(draw=st.data())
def test_other_dialects_never_raise_and_chunks_agree(variant: str, draw: st.DataObject) -> None:
    fuzz_once(draw, *VARIANTS[variant]())


def test_every_shipped_tracciato_has_samples_to_mutate() -> None:
    assert len(shipped()) >= 10
    for name in shipped():
        assert samples(name), name
