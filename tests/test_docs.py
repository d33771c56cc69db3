"""The docs cannot rot: every issue code, every key of the language and every example runs."""

from __future__ import annotations

import re
import typing
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.issues import CODES
from bridge.spec import parse
from bridge.spec.model import (
    ControlTotal,
    Discriminator,
    FieldSpec,
    FieldType,
    FileChecks,
    FileTotal,
    FixedFormat,
    Link,
    RecordSpec,
    RowCount,
    RowRule,
    Sign,
    SignFrom,
    Tracciato,
    TrailerCount,
    UniqueCheck,
)

DOCS = Path(__file__).resolve().parents[1] / "docs"
LANGUAGE = DOCS / "tracciati.md"
CODES_DOC = DOCS / "issue-codes.md"

# A YAML block is a tracciato when the line before its fence is this marker.
MARK = "<!-- tracciato -->"
BLOCK = re.compile(r"<!-- tracciato -->\n```ya?ml\n(.*?)\n```", re.DOTALL)
TEXT_BLOCK = re.compile(r"```text\n(.*?)\n```", re.DOTALL)


def tracciato_blocks() -> list[str]:
    return BLOCK.findall(LANGUAGE.read_text(encoding="utf-8"))


def test_every_issue_code_is_documented() -> None:
    text = CODES_DOC.read_text(encoding="utf-8")
    missing = [code for code in CODES if f"| `{code}` |" not in text]
    assert missing == []


def test_no_unknown_code_is_documented() -> None:
    text = CODES_DOC.read_text(encoding="utf-8")
    documented = re.findall(r"^\| `([a-z0-9-]+)` \|", text, re.MULTILINE)
    assert sorted(set(documented) - set(CODES)) == []
    assert len(documented) == len(set(documented)), "a code is documented twice"


def test_the_language_reference_has_tracciato_blocks() -> None:
    text = LANGUAGE.read_text(encoding="utf-8")
    assert text.count(MARK) == len(tracciato_blocks()) >= 1


@pytest.mark.parametrize("block", tracciato_blocks())
def test_every_tracciato_block_parses(block: str) -> None:
    t = parse(block, "docs/esempio.yaml")
    assert t.records


@pytest.mark.parametrize(
    "model",
    [Tracciato, FixedFormat, Discriminator, RecordSpec, FieldSpec, FileChecks, UniqueCheck,
     ControlTotal, TrailerCount, RowCount, FileTotal, Link, RowRule, SignFrom],
)
def test_every_key_of_the_language_is_documented(model: type) -> None:
    text = LANGUAGE.read_text(encoding="utf-8")
    missing = [key for key in model.model_fields if f"`{key}`" not in text]
    assert missing == []


def test_every_delimited_key_is_documented() -> None:
    from bridge.spec.model import DelimitedFormat

    text = LANGUAGE.read_text(encoding="utf-8")
    assert [k for k in DelimitedFormat.model_fields if f"| `{k}` |" not in text] == []


@pytest.mark.parametrize("literal", [FieldType, Sign])
def test_every_type_and_sign_is_documented(literal: object) -> None:
    text = LANGUAGE.read_text(encoding="utf-8")
    missing = [v for v in typing.get_args(literal) if f"| `{v}` |" not in text]
    assert missing == []


def test_the_worked_example_decodes_as_the_text_says() -> None:
    from bridge.codecs import decode, encode

    [block] = [b for b in tracciato_blocks() if "Orders for a legacy ERP" in b]
    t = parse(block, "docs/esempio.yaml")
    assert t.fixed is not None and t.fixed.record_length is not None
    width = t.fixed.record_length
    shown = TEXT_BLOCK.findall(LANGUAGE.read_text(encoding="utf-8"))[0]
    # The doc leaves out the spaces that pad each line; the file has them.
    data = "".join(line.ljust(width) + "\r\n" for line in shown.splitlines()).encode("cp1252")
    out = decode(data, t)
    assert out.issues == []
    testata, righe, coda = out.tables["testata"], out.tables["righe"], out.tables["coda"]
    assert testata["totale"].tolist() == [Decimal("54.80")]
    assert righe["importo"].tolist() == [Decimal("25.80"), Decimal("34.00"), Decimal("-5.00")]
    assert righe["_parent_line"].tolist() == [1, 1, 1]
    assert coda["numero_record"].tolist() == [5]
    assert encode(out.tables, t) == data

    without_discount = data.replace(data[3 * (width + 2):4 * (width + 2)], b"")
    without_discount = without_discount.replace(b"Z0000005", b"Z0000004")
    codes = [(i.code, i.line, i.record, i.field) for i in decode(without_discount, t).issues]
    assert codes == [("control-total-mismatch", 1, "testata", "totale")]


def test_the_layout_mistake_quoted_is_the_one_bridge_prints() -> None:
    """README.md and tracciati.md quote a mistake in a layout: it is the message, word for word."""
    from bridge.errors import TracciatoError

    # fields[3] of testata is on line 14, with a length of 0.
    text = "".join(line + "\n" for line in [
        "# A layout with one mistake.", "#", "#", "#", "#",
        "format: fixed",
        "fixed: {record_length: 20}",
        "records:",
        "  testata:",
        "    fields:",
        "      - {name: tipo, type: constant, value: T, start: 1, length: 1}",
        "      - {name: a, start: 2, length: 1}",
        "      - {name: b, start: 3, length: 1}",
        "      - {name: c, start: 4, length: 0}",
    ])
    assert text.splitlines()[13].startswith("      - {name: c,")
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    language = " ".join(LANGUAGE.read_text(encoding="utf-8").split())
    quoted = (("tracciati/x/ordini.yaml", readme), ("tracciati/acme/ordini.yaml", language))
    for name, doc in quoted:
        with pytest.raises(TracciatoError) as raised:
            parse(text, name)
        assert f"`{raised.value}`" in doc or f"\n{raised.value}\n" in doc, str(raised.value)


@pytest.mark.parametrize("code", ["bad-partita-iva", "bad-codice-fiscale", "bad-ean13"])
def test_the_check_digit_examples_are_right(code: str) -> None:
    """`X`, whose check digit (letter) should be Y: X is refused, X with Y is not."""
    from bridge.codecs import decode

    row = next(line for line in CODES_DOC.read_text(encoding="utf-8").splitlines()
               if line.startswith(f"| `{code}` |"))
    found = re.search(r"`(\w+)`, whose check (?:digit|letter) should be (\w)", row)
    assert found is not None, row
    bad, right = found.group(1), found.group(1)[:-1] + found.group(2)
    kind = code.removeprefix("bad-").replace("-", "_")
    t = parse("format: delimited\ndelimited: {header_rows: 0, match_columns: position}\n"
              f"records:\n  r:\n    fields:\n      - {{name: v, type: {kind}}}\n", "x/y.yaml")
    assert [i.code for i in decode(f"{bad}\r\n".encode(), t).issues] == [code]
    assert decode(f"{right}\r\n".encode(), t).issues == []
