"""Check digits of Italian tax identifiers and EAN-13 barcodes, on whole columns.

Cells of the right shape are laid out as a matrix of bytes (one row per cell), so each
algorithm is a handful of numpy operations whatever the number of cells.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.fields import buffers
from bridge.fields.cells import Collector
from bridge.spec.model import FieldSpec

_ZERO = ord("0")
_A = ord("A")

# Codice fiscale: characters in odd positions (1st, 3rd, ...) weigh by this table, in
# the order 0-9 then A-Z; even positions weigh their digit, or their letter's index.
_CF_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21]
_CF_ODD_LETTERS = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14,
                   16, 10, 22, 25, 24, 23]
_ODD = np.zeros(256, dtype=np.int64)
_EVEN = np.zeros(256, dtype=np.int64)
for _i, _w in enumerate(_CF_ODD):
    _ODD[_ZERO + _i] = _w
    _EVEN[_ZERO + _i] = _i
for _i, _w in enumerate(_CF_ODD_LETTERS):
    _ODD[_A + _i] = _w
    _EVEN[_A + _i] = _i

# Omocodia: digits of the date and place may be replaced by the letters L M N P Q R S T U V.
_OMO = "[0-9LMNPQRSTUV]"
_CF_PERSON = rf"^[A-Z]{{6}}{_OMO}{{2}}[A-EHLMPRST]{_OMO}{{2}}[A-Z]{_OMO}{{3}}[A-Z]$"


def partita_iva_ok(digits: np.ndarray) -> np.ndarray:
    """Luhn-style check of 11-digit rows (an (n, 11) matrix of ASCII digits)."""
    d = digits.astype(np.int64) - _ZERO
    doubled = d[:, 1:10:2] * 2
    doubled -= np.where(doubled > 9, 9, 0)
    total = d[:, 0:10:2].sum(axis=1) + doubled.sum(axis=1)
    return np.asarray((10 - total % 10) % 10 == d[:, 10])


def codice_fiscale_ok(chars: np.ndarray) -> np.ndarray:
    """Check letter of 16-character rows (an (n, 16) matrix of upper-case ASCII)."""
    total = _ODD[chars[:, 0:15:2]].sum(axis=1) + _EVEN[chars[:, 1:15:2]].sum(axis=1)
    return np.asarray(total % 26 + _A == chars[:, 15])


def ean13_ok(digits: np.ndarray) -> np.ndarray:
    """GS1 check digit of 13-digit rows: weights 1, 3, 1, 3... on the first twelve."""
    d = digits.astype(np.int64) - _ZERO
    total = d[:, 0:12:2].sum(axis=1) + 3 * d[:, 1:12:2].sum(axis=1)
    return np.asarray((10 - total % 10) % 10 == d[:, 12])


def _verdict(text: pa.Array, shape: str, width: int,
             check: Callable[[np.ndarray], np.ndarray],
             prepare: pa.Array | None = None) -> np.ndarray:
    """True where a cell has ``shape`` and its last ``width`` characters pass ``check``."""
    source = text if prepare is None else prepare
    shaped = pc.fill_null(pc.match_substring_regex(source, shape), False)
    ok: np.ndarray = shaped.to_numpy(zero_copy_only=False).astype(bool)
    rows = np.flatnonzero(ok)
    if len(rows):
        tails = pc.utf8_slice_codeunits(source.take(pa.array(rows)), -width)
        passed = check(buffers.char_matrix(tails, width))
        ok[rows[~passed]] = False
    return ok


def check_identifier(text: pa.Array, field: FieldSpec, bad: Collector) -> np.ndarray:
    """Flag cells that are not valid identifiers of the field's type; values stay as is."""
    present = pc.is_valid(text).to_numpy(zero_copy_only=False)
    if field.type == "partita_iva":
        ok = _verdict(text, r"^(?:IT)?\d{11}$", 11, partita_iva_ok)
        code, what = "bad-partita-iva", "a valid partita IVA (11 digits with check digit)"
    elif field.type == "ean13":
        ok = _verdict(text, r"^\d{13}$", 13, ean13_ok)
        code, what = "bad-ean13", "a valid EAN-13 (13 digits with check digit)"
    else:
        # Upper-case only for the check: case is the tracciato's choice (``case``).
        upper = pc.utf8_upper(text)
        ok = _verdict(text, _CF_PERSON, 16, codice_fiscale_ok, upper)
        ok |= _verdict(text, r"^\d{11}$", 11, partita_iva_ok)
        code, what = "bad-codice-fiscale", "a valid codice fiscale"
    return bad.add(present & ~ok, code, f"{{value}} is not {what}", text)
