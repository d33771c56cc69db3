"""Reference tables are read chunk by chunk, keeping only the fields the lookups use: a
large article master is not held whole, and the flows write the same bytes as when the
master was read whole with every column."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

import bridge.engine.tables as tables
from bridge.codecs import decode
from bridge.config import load
from bridge.errors import ConfigError, TransientError
from tests.test_samples import run_twice, sample_copy, written
from tests.test_streaming import chunks_read

__all__ = ["chunks_read"]  # a fixture, used by name

if TYPE_CHECKING:
    import pandas as pd

MASTER = Path("erp-exports") / "articoli.csv"


def bigger_master(cfg_path: Path, extra: int) -> bytes:
    """The sample's article master and ``extra`` more articles (Mexal's 17 columns)."""
    path = cfg_path.parent / MASTER
    text = path.read_bytes().decode("cp1252")  # its CRLF kept
    rows = "".join(f"A;X{i:06d};Articolo {i};Nota {i};22;PZ;;;ATT;0101;1,00;1,00;66,67;"
                   "1,00;2,00;2,00;2,00\r\n" for i in range(extra))
    path.write_text(text + rows, encoding="cp1252", newline="")
    return path.read_bytes()


def loaded(cfg_path: Path, name: str = "articoli") -> pd.DataFrame:
    ctx = SimpleNamespace(cfg=load(cfg_path), references={})
    return tables.reference(ctx, name)  # type: ignore[arg-type]


def test_a_master_in_chunks_keeps_the_looked_up_fields_of_every_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks_read: list[int]) -> None:
    cfg_path = sample_copy(tmp_path)
    data = bigger_master(cfg_path, 3000)
    monkeypatch.setattr(tables, "REFERENCE_CHUNK", 8192)
    got = loaded(cfg_path)
    assert chunks_read[0] > len(data) // 8192 - 2  # in chunks
    # The sample's lookups on articoli match on codice and take descrizione and codice_iva.
    assert list(got.columns) == ["codice", "descrizione", "codice_iva"]
    t = tables.load_tracciato(load(cfg_path), "mexal/articoli")
    whole = decode(data, t).tables["articolo"]
    assert len(got) == len(whole) > 3000
    for column in got.columns:
        assert got[column].tolist() == whole[column].tolist(), column
    assert got.attrs["sha256"] == hashlib.sha256(data).hexdigest()


def test_flows_write_the_same_bytes_with_the_master_in_chunks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    roots = []
    for name, chunk in (("whole", 1 << 30), ("chunked", 4096)):
        monkeypatch.setattr(tables, "REFERENCE_CHUNK", chunk)
        cfg_path = sample_copy(tmp_path / name)
        bigger_master(cfg_path, 500)
        result = run_twice(cfg_path, ["ordini", "articoli"])
        assert {o.state for o in result.outcomes} == {"done"}
        roots.append(cfg_path.parent)
    whole, chunked = (written(r / "erp") | written(r / "shop") for r in roots)
    assert whole == chunked and len(whole) >= 4


def test_a_bad_row_of_a_master_read_in_chunks_is_a_configuration_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg_path = sample_copy(tmp_path)
    bigger_master(cfg_path, 2000)
    path = cfg_path.parent / MASTER
    lines = path.read_bytes().split(b"\r\n")
    lines[1500] = lines[1500].replace(b";22;", b";ventidue;")  # a VAT code too long
    path.write_bytes(b"\r\n".join(lines))
    monkeypatch.setattr(tables, "REFERENCE_CHUNK", 8192)
    with pytest.raises(ConfigError, match=r"reference 'articoli' \(.*\): 1 issues, first: "
                                          r"line 1501: "):
        loaded(cfg_path)


def test_a_lookup_of_a_field_the_master_lacks_keeps_every_field_for_its_error(
        tmp_path: Path) -> None:
    cfg_path = sample_copy(tmp_path)
    text = cfg_path.read_text(encoding="utf-8")
    assert text.count("take: {descrizione: descrizione}") == 1
    cfg_path.write_text(text.replace("take: {descrizione: descrizione}",
                                     "take: {descrizione: descrizion}"), encoding="utf-8")
    got = loaded(cfg_path)
    assert len(got.columns) > 10 and "descrizione" in got.columns


def test_a_master_whose_line_ends_were_lost_is_a_configuration_error_not_read_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ERP export whose line ends were lost on the way is one endless line: it was held
    whole and copied again at every chunk (minutes for a large one, at every pass). Past
    the limit of one line it is a configuration error naming the table, unread beyond."""
    import bridge.config

    cfg_path = sample_copy(tmp_path)
    bigger_master(cfg_path, 3000)
    path = cfg_path.parent / MASTER
    head, _, body = path.read_bytes().partition(b"\r\n")
    path.write_bytes(head + b"\r\n" + body.rstrip(b"\r\n").replace(b"\r\n", b"|") + b"\r\n")
    monkeypatch.setattr(tables, "REFERENCE_CHUNK", 8192)
    monkeypatch.setattr(bridge.config, "WHOLE_MAX_BYTES", 65536)
    assert path.stat().st_size > 2 * 65536
    with pytest.raises(ConfigError, match=r"reference 'articoli' \(.*\): [\d,]+ bytes from "
                       r"line 2 on are one line, not ended, over 65,536 bytes: is it a file "
                       r"of tracciato 'mexal/articoli'\?"):
        loaded(cfg_path)


ONE_MORE = ("A;Y000001;Articolo nuovo;;22;PZ;;;ATT;0101;1,00;1,00;66,67;1,00;2,00;2,00;2,00\r\n"
            .encode("cp1252"))


def _grown(path: Path) -> None:
    with path.open("ab") as fh:
        fh.write(ONE_MORE)


CHANGES = {
    "grown": _grown,  # the ERP still writing it
    "cut": lambda p: os.truncate(p, p.stat().st_size // 2),  # the ERP starting again
}


def changed_after_first_read(monkeypatch: pytest.MonkeyPatch, path: Path, how: str) -> None:
    """The master changed (``CHANGES``) just after bridge's first read of its bytes."""
    real = tables._Hashed.read
    done: list[bool] = []

    def read(self: tables._Hashed, n: int = -1) -> bytes:
        data = real(self, n)
        if not done:
            done.append(True)
            CHANGES[how](path)
        return data

    monkeypatch.setattr(tables._Hashed, "read", read)


@pytest.mark.parametrize("how", list(CHANGES))
def test_a_master_written_while_it_is_read_is_read_again_later(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Half of a master, or of two versions of it, is no table to look orders up in: a
    master that changes while it is read is a failure to try again, not a mistake of the
    configuration (the halves' bad lines) nor a table (the orders of the missing half
    refused, or given the wrong article)."""
    cfg_path = sample_copy(tmp_path)
    data = bigger_master(cfg_path, 2000)
    monkeypatch.setattr(tables, "REFERENCE_CHUNK", 8192)
    with monkeypatch.context() as writing:
        changed_after_first_read(writing, cfg_path.parent / MASTER, how)
        with pytest.raises(TransientError, match=r"reference 'articoli' \(.*articoli.csv\) "
                           r"changed while it was read \(is it being written\?\): it is "
                           r"read again at the next pass"):
            loaded(cfg_path)
    final = data + ONE_MORE  # the ERP done writing
    (cfg_path.parent / MASTER).write_bytes(final)
    got = loaded(cfg_path)
    assert got.attrs["sha256"] == hashlib.sha256(final).hexdigest()
    assert got["codice"].tolist()[-1] == "Y000001"


def test_orders_wait_while_their_master_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass that finds the master being written leaves the orders for the next pass,
    which writes what a pass with the master at rest writes."""
    from bridge.engine.runner import run_pass
    from tests.test_samples import NOON

    outs = []
    for name in ("rest", "writing"):
        cfg_path = sample_copy(tmp_path / name)
        bigger_master(cfg_path, 200)
        assert run_pass(load(cfg_path), flows=["ordini"], clock=lambda: NOON).outcomes == []
        if name == "writing":
            with monkeypatch.context() as writing:
                changed_after_first_read(writing, cfg_path.parent / MASTER, "grown")
                waited = run_pass(load(cfg_path), flows=["ordini"], clock=lambda: NOON + 60)
            assert not written(cfg_path.parent / "erp" / "ordini")
            [outcome] = waited.outcomes
            assert outcome.state == "retrying" and waited.exit_code == 3
            assert "changed while it was read" in (outcome.message or ""), outcome
            (cfg_path.parent / MASTER).write_bytes(  # the ERP done writing, as at rest
                (tmp_path / "rest" / "samples" / MASTER).read_bytes())
        result = run_pass(load(cfg_path), flows=["ordini"], clock=lambda: NOON + 120)
        assert [o.state for o in result.outcomes] == ["done"], result
        outs.append(written(cfg_path.parent / "erp" / "ordini"))
    assert outs[0] == outs[1] and outs[0]
