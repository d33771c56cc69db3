"""The command line: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.issues import CODES

EXPORTS = Path(__file__).resolve().parent.parent / "samples" / "erp-exports"
BROKEN = "format: fixed\nrecords:\n  r:\n    fields:\n      - {name: a, start: 1, length: 0}\n"


def test_help_is_fast_and_imports_no_heavy_library() -> None:
    code = ("import sys, bridge.cli; heavy = {'pandas', 'pyarrow', 'numpy', 'paramiko'}"
            " & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bridge", "--help"], capture_output=True, check=True)
    # Generous bound: a regression to importing pandas costs well over a second here.
    assert time.perf_counter() - start < 1.0


def test_numpy_starts_no_blas_thread_under_bridge() -> None:
    """A command of bridge's, then numpy (as a command and the helper import it): no
    OpenBLAS thread is started, unless the user asked for some."""
    code = ("import os, sys; from bridge.cli import main\n"
            "main(['codes'], standalone_mode=False)\n"
            "import numpy\n"
            "print(os.environ['OPENBLAS_NUM_THREADS'], len(os.listdir('/proc/self/task')),"
            " file=sys.stderr)")
    seen = {}
    for asked in (None, "2"):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        if asked:
            env["OPENBLAS_NUM_THREADS"] = asked
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=env)
        value, threads = out.stderr.split()
        seen[asked] = (value, int(threads))
    assert seen[None][0] == "1" and seen["2"][0] == "2"  # the user's value is kept
    if len(os.sched_getaffinity(0)) >= 2:
        assert seen[None][1] < seen["2"][1]  # one BLAS thread fewer


def test_arrow_allocates_with_jemalloc_under_bridge(tmp_path: Path) -> None:
    """A command of bridge's that reads a file with Arrow does so with Arrow's jemalloc
    pool (it hands back a chunk's pages, which bench/README.md measures), on Linux where
    Arrow's wheels carry it; a pool the user chose is kept; nothing is said about it."""
    import pyarrow as pa

    if sys.platform != "linux" or "jemalloc" not in pa.supported_memory_backends():
        pytest.skip("Arrow without jemalloc here")
    data = tmp_path / "articoli.csv"
    data.write_bytes((EXPORTS / "articoli.csv").read_bytes())
    code = ("import contextlib, sys; from bridge.cli import main\n"
            "with contextlib.suppress(SystemExit):\n"
            f"    main(['check', {str(data)!r}, '-t', 'mexal/articoli'])\n"
            "import pyarrow as pa\n"
            "print('POOL', pa.default_memory_pool().backend_name, file=sys.stderr)")
    seen = {}
    for asked in (None, "system"):
        env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
        if asked:
            env["ARROW_DEFAULT_MEMORY_POOL"] = asked
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env)
        assert "10 articolo" in out.stdout, out.stdout + out.stderr  # the file was read
        pool = [line for line in out.stderr.splitlines() if line.startswith("POOL ")]
        assert out.stderr.strip() == pool[0], out.stderr  # no warning of Arrow's
        seen[asked] = pool[0].split()[1]
    assert seen == {None: "jemalloc", "system": "system"}


def test_no_jemalloc_asked_of_an_arrow_built_without_it(tmp_path: Path) -> None:
    """An Arrow whose header says it has no jemalloc is not asked for it (it would print a
    warning at every command); one that has it is, and only the header is read (pyarrow
    itself is not imported by a command that needs none)."""
    code = ("import contextlib, os, sys; from bridge.cli import main\n"
            "with contextlib.suppress(SystemExit):\n"
            "    main(['codes'])\n"
            "print('POOL', os.environ.get('ARROW_DEFAULT_MEMORY_POOL'),"
            " 'pyarrow' in sys.modules, file=sys.stderr)")
    seen = {}
    for built in ("#define ARROW_JEMALLOC\n#define ARROW_MIMALLOC\n", "#define ARROW_MIMALLOC\n"):
        fake = tmp_path / str(len(seen)) / "pyarrow"
        (fake / "include" / "arrow" / "util").mkdir(parents=True)
        (fake / "__init__.py").write_text("raise ImportError('not to be imported')\n")
        (fake / "include" / "arrow" / "util" / "config.h").write_text(built)
        env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
        env["PYTHONPATH"] = os.pathsep.join([str(fake.parent), env.get("PYTHONPATH", "")])
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, cwd=tmp_path)
        line = [x for x in out.stderr.splitlines() if x.startswith("POOL ")]
        assert line, out.stdout + out.stderr
        seen[built] = line[0]
    assert list(seen.values()) == ["POOL jemalloc False", "POOL None False"]


def test_tracciati_schema_is_json(runner: CliRunner) -> None:
    result = runner.invoke(main, ["tracciati", "schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "Tracciato"


def test_a_broken_tracciato_exits_2_with_its_location(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "x" / "ordini.yaml"
    bad.parent.mkdir()
    bad.write_text(BROKEN, encoding="utf-8")
    data = tmp_path / "data.txt"
    data.write_text("x\n", encoding="utf-8")
    result = runner.invoke(main, ["check", str(data), "--tracciato", str(bad)])
    assert result.exit_code == 2
    # the line of the key, in the file's 5 lines
    assert "ordini.yaml: line 5: records.r.fields[0].length: length must be > 0" in result.output
    assert "Traceback" not in result.output
    lint = runner.invoke(main, ["tracciati", "lint", str(tmp_path)])
    assert lint.exit_code == 2 and "length must be > 0" in lint.output


def test_an_unknown_tracciato_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n", encoding="utf-8")
    result = runner.invoke(main, ["check", str(data), "-t", "nobody/nothing"])
    assert result.exit_code == 2
    assert "no tracciato named 'nobody/nothing'" in result.output


def test_codes_lists_every_issue_code(runner: CliRunner) -> None:
    result = runner.invoke(main, ["codes"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == list(CODES)


SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "tracciati"


def test_check_a_clean_sample_exits_0(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", str(SAMPLES / "gestionale" / "ordini.txt"),
                                  "-t", "gestionale/ordini"])
    assert result.exit_code == 0, result.output
    assert "clean: no issues" in result.output
    assert "testata" in result.output and "righe" in result.output


def test_check_a_broken_sample_lists_issues_by_line(runner: CliRunner) -> None:
    path = str(SAMPLES / "gestionale" / "ordini.broken.txt")
    text = runner.invoke(main, ["check", path, "-t", "gestionale/ordini"])
    assert text.exit_code == 1
    lines = [line for line in text.output.splitlines() if line.startswith("  line ")]
    numbers = [int(line.split()[1].rstrip(":")) for line in lines]
    assert numbers == sorted(numbers) and len(numbers) == 3
    as_json = json.loads(runner.invoke(main, ["check", path, "-t", "gestionale/ordini",
                                              "--format", "json"]).output)
    assert as_json["clean"] is False
    assert as_json["issues_by_code"] == {"control-total-mismatch": 1, "bad-decimal": 1,
                                         "trailer-count-mismatch": 1}
    as_csv = runner.invoke(main, ["check", path, "-t", "gestionale/ordini", "--format", "csv"])
    rows = as_csv.output.splitlines()
    assert rows[0] == "line,record,field,code,value,message" and len(rows) == 4


def test_tracciati_path_prints_the_file_to_copy_or_says_what_is_known(tmp_path: Path) -> None:
    from bridge.spec.loader import SHIPPED

    found = CliRunner().invoke(main, ["tracciati", "path", "gestionale/ordini"])
    assert found.exit_code == 0
    assert Path(found.output.strip()) == SHIPPED / "gestionale" / "ordini.yaml"
    own = tmp_path / "mine" / "gestionale"
    own.mkdir(parents=True)
    (own / "ordini.yaml").write_text("format: delimited\n", encoding="utf-8")
    mine = CliRunner().invoke(main, ["--tracciati", str(tmp_path / "mine"), "tracciati",
                                     "path", "gestionale/ordini"])
    assert Path(mine.output.strip()) == own / "ordini.yaml"  # the operator's folder wins
    missing = CliRunner().invoke(main, ["tracciati", "path", "gestionale/ordinii"])
    assert missing.exit_code == 2
    assert "no tracciato named 'gestionale/ordinii'" in missing.output


def two_columns(tmp_path: Path, second: str) -> Path:
    """A `;` layout of a code column and ``second``, in a file of its own."""
    layout = tmp_path / "prova" / "righe.yaml"
    layout.parent.mkdir()
    layout.write_text("format: delimited\ndelimited: {delimiter: ';'}\nrecords:\n  riga:\n"
                      "    fields:\n      - {name: codice, column: codice}\n"
                      f"      - {second}\n", encoding="utf-8")
    return layout


def test_check_lists_the_first_issues_and_the_summary_last(tmp_path: Path,
                                                            runner: CliRunner) -> None:
    """On a file with many bad rows the summary stays in sight: after the issues, of which
    `--limit` are listed (100 by default), the rest counted."""
    from bridge.check import TEXT_LIMIT

    layout = two_columns(tmp_path, "{name: qta, column: qta, type: integer}")
    data = tmp_path / "righe.csv"
    data.write_text("codice;qta\n" + "".join(f"A{i};x{i}\n" for i in range(250)),
                    encoding="utf-8")
    lines = runner.invoke(main, ["check", str(data), "-t", str(layout)]).output.splitlines()
    assert TEXT_LIMIT == 100
    assert [ln for ln in lines if ln.startswith("  line ")][-1].startswith("  line 101: ")
    assert lines[-2] == "  ... and 150 more (--limit 0 lists them all; --format csv for a " \
                        "spreadsheet)"
    assert lines[-1] == "250 issues: 250 bad-integer"
    few = runner.invoke(main, ["check", str(data), "-t", str(layout), "--limit", "3"])
    assert len([ln for ln in few.output.splitlines() if ln.startswith("  line ")]) == 3
    every = runner.invoke(main, ["check", str(data), "-t", str(layout), "--limit", "0"])
    assert len([ln for ln in every.output.splitlines() if ln.startswith("  line ")]) == 250
    assert "more (--limit" not in every.output


def test_check_of_a_large_file_shows_a_bar_on_a_terminal(tmp_path: Path) -> None:
    """A large file gets a progress bar (in bytes, with the time left) on stderr when it is
    a terminal; stdout still gets the whole result, and only it."""
    import os
    import pty
    import subprocess
    import sys
    import threading

    from bridge.cli.layouts import BAR_FROM

    layout = two_columns(tmp_path, "{name: nota, column: nota}")
    data = tmp_path / "righe.csv"
    row = "A123;" + "n" * 90 + "\n"
    with data.open("w", encoding="utf-8") as f:
        f.write("codice;nota\n")
        f.writelines([row] * (BAR_FROM // len(row) + 1000))
    assert data.stat().st_size > BAR_FROM
    master, slave = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "bridge", "check", str(data), "-t",
                              str(layout)], stdout=subprocess.PIPE, stderr=slave,
                             env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"})
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:  # the terminal is read while the child writes, never filled up
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed it
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    assert child.stdout is not None
    out = child.stdout.read().decode()
    child.stdout.close()
    assert child.wait(timeout=120) == 0
    reader.join(timeout=30)
    os.close(master)
    seen = b"".join(chunks).decode("utf-8", "replace")
    assert "checking" in seen and "MB" in seen
    assert out.splitlines()[-1] == "clean: no issues" and "checking" not in out
