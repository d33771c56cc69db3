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
