"""Lint says what YAML did: a code read as a number, a value cut by a comma inside {...}, a
value that cannot start unquoted; and lint runs the checks the way `bridge check` will."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.errors import TracciatoError
from bridge.spec import parse
from bridge.spec.loader import lint
from tests.conftest import ROOT

BASE = """format: fixed
discriminator: {start: 1, length: 2}
records:
  testata:
    when: '01'
    fields:
      - {name: tipo, type: constant, value: '01', start: 1, length: 2}
      - {name: numero, type: integer, sign: none, start: 3, length: 8}
      - {name: note, start: 11, length: 10, missing_values: ['-']}
  coda:
    when: '99'
    fields:
      - {name: tipo, start: 1, length: 2, description: 'the trailer'}
"""


def mistake(old: str, new: str) -> str:
    assert old in BASE
    with pytest.raises(TracciatoError) as exc:
        parse(BASE.replace(old, new), "x/ordini.yaml")
    return str(exc.value)


def test_the_base_is_clean() -> None:
    assert parse(BASE, "x/ordini.yaml").records["testata"].when == ["01"]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("when: '01'", "when: 01",
     "x/ordini.yaml: records.testata.when: 01 was read by YAML as the number 1, not as text; "
     "write it in quotes: when: '01' (line 5)"),
    ("when: '01'", "when: [01, '02', 07]",
     "records.testata.when: 01 was read by YAML as the number 1, not as text; write it in "
     "quotes: when: ['01', '02', '07'] (line 5)"),
    ("value: '01'", "value: 0001",
     "records.testata.fields[0].value: 0001 was read by YAML as the number 1, not as text; "
     "write it in quotes: value: '0001' (line 7)"),
    ("missing_values: ['-']", "missing_values: [-, 00]",
     "records.testata.fields[2].missing_values: 00 was read by YAML as the number 0, not as "
     "text; write it in quotes: missing_values: [-, '00'] (line 9)"),
    ("description: 'the trailer'", "description: the trailer, this one included.",
     "records.coda.fields[0].this one included.: an unquoted ',' inside {...} ended the value "
     "of 'description', and YAML read 'this one included.' as a key; quote the whole value: "
     "description: 'the trailer, this one included.' (line 13)"),
])
def test_a_yaml_trap_says_what_yaml_did(old: str, new: str, message: str) -> None:
    got = mistake(old, new)
    assert message in got
    assert got.count("\n") == 0  # one line per mistake, not one per alternative


def test_a_value_yaml_cannot_start_unquoted() -> None:
    got = mistake("missing_values: ['-']", "format: %d/%m/%Y")
    assert got.endswith("line 9, column 53: not valid YAML: found character that cannot start "
                        "any token (a value starting with '%' must be quoted: '%d/%m/%Y')")
    got = mistake("description: 'the trailer'", "description: the trailer: last")
    assert "(inside {...}, a value holding ':', ',', '#', '{' or '}' must be quoted)" in got


def test_no_hint_where_yaml_did_what_was_meant() -> None:
    # A number where a number is meant; a true mistake keeps the model's own message.
    assert parse(BASE.replace("length: 10", "length: 12"), "x/o.yaml")  # a number, meant
    got = mistake("length: 8}", "length: -8}")
    assert "must be > 0" in got and "read by YAML" not in got
    got = mistake("description: 'the trailer'", "descrption: 'the trailer'")
    line = BASE.splitlines().index(next(x for x in BASE.splitlines() if "the trailer" in x)) + 1
    assert got == (f"x/ordini.yaml: line {line}: records.coda.fields[0].descrption: unknown key "
                   "(a typo?)")


def test_every_shipped_tracciato_lints_clean() -> None:
    assert lint([ROOT / "tracciati"]) == []


def test_lint_in_the_cli_prints_the_hint(tmp_path: Path) -> None:
    path = tmp_path / "x" / "ordini.yaml"
    path.parent.mkdir()
    path.write_text(BASE.replace("when: '01'", "when: 01"), encoding="utf-8")
    got = CliRunner().invoke(main, ["tracciati", "lint", str(path)])
    assert got.exit_code != 0
    assert "01 was read by YAML as the number 1, not as text; write it in quotes: when: '01'" \
        in got.output


def test_lint_runs_the_checks_as_check_will(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """What lints, runs: a check that raises on a file of the layout is found by lint (here
    one made to raise, as the KeyError of a control total once did), not by the first
    file."""
    from bridge import relations

    path = tmp_path / "x" / "ordini.yaml"
    path.parent.mkdir()
    path.write_text(BASE, encoding="utf-8")
    assert lint([path]) == []

    def broken(self: object, tables: object) -> list[object]:
        raise KeyError("_parent_line")

    monkeypatch.setattr(relations.Relations, "feed", broken)
    assert lint([path]) == [
        f"{path}: the checks of this layout fail on a file of empty records (KeyError: "
        "'_parent_line'): a bug of bridge, please report it"]
