"""The helper of bridge.engine.ahead on a PostgreSQL ledger whose role may open only as many
connections as `bridge run` needs alone: the helper must not take one of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flowkit import make_world, order_file
from tests.pgserver import PgServer
from tests.test_ahead import FLOW, helper_line, tree

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                reason="the helper is for machines of two cores or more")

#: The connections `bridge run` opens at most at once, alone: its ledger's, its hold on the
#: ledger's turns, and a short one for the temporary names its transports share.
ALONE = 3
FILES = 12


def world(root: Path, url: str, head: str = "") -> Path:
    cfg = make_world(root, head + FLOW.replace("ledger: state/ledger.sqlite",
                                               f"ledger: '{url}'"))
    assert url in cfg.read_text(encoding="utf-8") and "dedupe" in FLOW
    for n in range(FILES):
        text = order_file(n, 3) + (f"A{n - 1:04d}0;Di nuovo;1,00;1\n" if n % 3 == 1 else "")
        (root / "inbox" / f"o{n:04d}.csv").write_text(text, encoding="utf-8")
    return cfg


def test_a_helper_takes_no_connection_the_run_needs(tmp_path: Path, pg: PgServer) -> None:
    """The role's connection limit is what `bridge run` needs alone. The helper opens its
    own connection only when its first transform asks the ledger something, once this
    process has the ones it keeps: every file goes, the bytes of a run without a helper."""
    role = "tight_" + os.urandom(4).hex()
    pg.sql(f"CREATE ROLE {role} LOGIN NOSUPERUSER CONNECTION LIMIT {ALONE}")
    pg.sql(f"GRANT CREATE ON DATABASE bridge TO {role}")
    urls = {}
    for name in ("alone", "ahead"):
        url = pg.new_schema(f"{tmp_path}/{name}")
        pg.sql(f"GRANT ALL ON SCHEMA {url.split('search_path%3D')[1]} TO {role}")
        urls[name] = url.replace("bridge@", f"{role}@")
    alone = world(tmp_path / "alone", urls["alone"], "transform_ahead: false\n")
    ahead = world(tmp_path / "ahead", urls["ahead"])
    for cfg in (alone, ahead):
        got = subprocess.run([sys.executable, "-m", "bridge", "--config", str(cfg), "run"],
                             capture_output=True, text=True, timeout=300, check=False)
        assert got.returncode == 0, got.stdout + got.stderr
        assert "Traceback" not in got.stderr, got.stderr
    assert helper_line(tmp_path / "alone") == ""
    line = helper_line(tmp_path / "ahead")  # its transforms asked the ledger, and were used
    assert "a second process transformed 0 " not in line and \
        " 0 because the helper failed on them, 0 because it was lost" in line, line
    assert len(tree(tmp_path / "ahead" / "erp")) == 2 * FILES
    assert tree(tmp_path / "ahead" / "erp") == tree(tmp_path / "alone" / "erp")
