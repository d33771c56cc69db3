"""Outputs written in parts by a thread of their own: the same bytes and hash as one write,
and a part that fails (a full disk) is never lost in that thread: the file is not published,
the run says so, and the next run writes the whole file."""

from __future__ import annotations

import errno
import hashlib
import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bridge.engine.parts import PartFile
from tests.flowkit import CONFIG, bridge_cli, make_world, order_file


def _parts() -> list[bytes | list[bytes | memoryview]]:
    body = [f"line {i:05d} è\r\n".encode() for i in range(3000)]
    out: list[bytes | list[bytes | memoryview]] = []
    for n in range(0, len(body), 250):
        block = b"".join(body[n:n + 250])
        # some parts as pieces, the last shorter than the line end kept back
        out.append([memoryview(block[:100]), block[100:-1], block[-1:]] if n % 500
                   else block)
    return out


def test_parts_written_by_the_thread_make_the_bytes_and_hash_of_one_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    real_start = threading.Thread.start

    def noted(self: threading.Thread) -> None:
        started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", noted)
    f = PartFile(tmp_path / "out.txt")
    whole = b""
    for part in _parts():
        f.write(part, keep_back=2)
        whole += part if isinstance(part, bytes) else b"".join(bytes(p) for p in part)
    digest, size = f.finish(b"\r\n", b"\x1a")
    want = whole[:-2] + b"\x1a"
    assert (tmp_path / "out.txt").read_bytes() == want
    assert (digest, size) == (hashlib.sha256(want).hexdigest(), len(want))
    # every part but the first went through the writer thread
    assert started.count("bridge-part-writer") == len(_parts()) - 1


def test_a_file_of_one_part_starts_no_thread(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    monkeypatch.setattr(threading.Thread, "start", lambda self: started.append(self.name))
    f = PartFile(tmp_path / "out.txt")
    f.write(b"one\n")
    assert f.finish(b"", b"")[1] == 4 and started == []


def _full(f: PartFile) -> None:
    """From now on every write of ``f`` meets a full disk (the real /dev/full)."""
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, f.fd)
    os.close(full)


def test_a_full_disk_met_by_the_thread_is_raised_and_nothing_is_published(
        tmp_path: Path) -> None:
    f = PartFile(tmp_path / "out.txt")
    f.write(b"first part\n")
    _full(f)
    f.write(b"second part\n")  # handed to the thread: its failure comes back later
    with pytest.raises(OSError) as caught:
        f.finish(b"", b"")
    assert caught.value.errno == errno.ENOSPC
    assert not (tmp_path / "out.txt").exists()
    f.discard()
    assert os.listdir(tmp_path) == []  # the temporary file is gone too


def test_the_next_part_raises_what_stopped_the_one_before(tmp_path: Path) -> None:
    f = PartFile(tmp_path / "out.txt")
    f.write(b"first part\n")
    _full(f)
    f.write(b"second part\n")
    with pytest.raises(OSError) as caught:
        f.write(b"third part\n")
    assert caught.value.errno == errno.ENOSPC
    f.discard()
    f.discard()  # twice: nothing left to raise
    assert os.listdir(tmp_path) == []


def _files_up_to(size: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_a_full_disk_in_a_later_part_of_a_streamed_file_is_retried_whole(
        tmp_path: Path) -> None:
    """The ERP's file is bigger than the source: the source fits the work area, the
    output's later parts do not. The file waits (retrying), nothing reaches the ERP, and
    with room again the run writes what a run that never failed writes."""
    config = CONFIG.replace("    retry_backoff: 0\n",
                            "    retry_backoff: 0\n    chunk_bytes: 16384\n")
    worlds = []
    for name in ("full", "clean"):
        (tmp_path / name).mkdir()
        cfg = make_world(tmp_path / name, config)
        assert bridge_cli(cfg, "run").returncode == 0  # the ledger made, without a limit
        source = tmp_path / name / "inbox" / "big.csv"
        source.write_text(order_file(1, rows=6000), encoding="utf-8")
        worlds.append(cfg)
    limit = 280_000
    assert source.stat().st_size < limit < source.stat().st_size * 55 // 36
    got = subprocess.run([sys.executable, "-m", "bridge", "--config", str(worlds[0]), "run"],
                         capture_output=True, text=True, timeout=120,
                         preexec_fn=lambda: _files_up_to(limit), check=False)
    assert got.returncode == 3, got.stdout + got.stderr
    assert "Traceback" not in got.stdout + got.stderr
    assert "big.csv: retrying" in got.stdout
    assert not (tmp_path / "full" / "erp").exists() or \
        os.listdir(tmp_path / "full" / "erp") == []
    leftovers = [p.name for p in (tmp_path / "full" / "state" / "work").rglob("stream-*")]
    assert leftovers == []
    again = bridge_cli(worlds[0], "run")
    assert again.returncode == 0 and "big.csv: done" in again.stdout, again.stdout
    clean = bridge_cli(worlds[1], "run")
    assert clean.returncode == 0
    wrote = {p.name: p.read_bytes() for p in (tmp_path / "full" / "erp").iterdir()}
    want = {p.name: p.read_bytes() for p in (tmp_path / "clean" / "erp").iterdir()}
    assert wrote == want and len(wrote["ART00001.TXT"]) > limit
