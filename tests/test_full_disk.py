"""A full disk on bridge's own side: the work area. The message says whose disk is full, so
that the operator frees space there instead of calling the shop or the ERP. The disk is a
real one: a small tmpfs (root only), full after a few pages."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.errors import TransientError
from bridge.transport.local import LocalTransport


def _tmpfs(where: Path, options: str) -> Iterator[Path]:
    """``where``, a folder on a tmpfs of its own mounted with ``options``."""
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True)
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode(errors='replace')}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 64 KiB file system of its own."""
    yield from _tmpfs(tmp_path / "small", "size=64k")


def test_a_local_download_into_a_full_work_area_says_the_work_area_is_full(
        tmp_path: Path, small_disk: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "orders.csv").write_bytes(b"x" * 300_000)
    t = LocalTransport(tmp_path)
    with pytest.raises(TransientError) as caught:
        t.download("in", "orders.csv", small_disk / "1.download")
    said = str(caught.value)
    assert "work area" in said and "disk is full" in said and "orders.csv" in said
    assert os.listdir(small_disk) == []  # nothing half-written is left to fill it further
    # The source is untouched and a later try, once there is room, takes it whole.
    (src / "orders.csv").write_bytes(b"x" * 1000)
    t.download("in", "orders.csv", small_disk / "1.download")
    assert (small_disk / "1.download").read_bytes() == b"x" * 1000


def test_a_source_that_cannot_be_read_is_not_called_a_full_disk(tmp_path: Path,
                                                                small_disk: Path) -> None:
    (tmp_path / "in").mkdir()  # and no orders.csv: it went since it was listed
    with pytest.raises(TransientError) as caught:
        LocalTransport(tmp_path).download("in", "orders.csv", small_disk / "1.download")
    assert "disk is full" not in str(caught.value)


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a read-only file system of its own (a share mounted read-only)."""
    yield from _tmpfs(tmp_path / "ro", "ro,size=64k")


def test_a_move_that_cannot_be_made_names_where_it_was_going(tmp_path: Path,
                                                             read_only_disk: Path) -> None:
    """An archive or quarantine folder that cannot be written: the message named only the
    file moved, and the operator looked at the source folder."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(b"x")
    with pytest.raises(TransientError) as caught:
        LocalTransport(tmp_path).move("in", "a.csv", "ro", "a.csv")
    assert str(read_only_disk / "a.csv") in str(caught.value)
    assert (tmp_path / "in" / "a.csv").read_bytes() == b"x"  # left where it was
