"""Issues: one problem in one row or one file, as data.

A bad row never raises. Every problem found while decoding or validating becomes an
:class:`Issue` with a stable ``code`` (listed in :data:`CODES`), the 1-based line of the
file it was found on (``None`` for a problem of the whole file), the record type, the
field, the raw value and a plain message. Callers gather issues into reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

#: Every code bridge emits, with what it means. The docs list is generated from this.
CODES: dict[str, str] = {
    # bytes and structure
    "bad-encoding": "bytes that are not valid in the tracciato's encoding",
    "bom-in-middle": "a byte-order mark inside the file, not at its start",
    "nul-byte": "a NUL byte (0x00) inside the text",
    "empty-file": "the file holds no bytes, or no records",
    "truncated-file": "the file ends in the middle of a record: it was still being written, "
                      "or cut short",
    "no-data": "the file holds header rows but no data rows",
    "bad-header": "the header row lacks a declared column, or names it differently",
    "extra-column": "the header holds a column the tracciato does not declare",
    "wrong-column-count": "a delimited row has more or fewer cells than the header",
    "unterminated-quote": "a quoted cell is opened and never closed",
    "unknown-record": "a line whose discriminator matches no record type",
    "wrong-length": "a fixed-width line shorter or longer than the record length",
    # cells
    "missing-required": "a required field is empty",
    "bad-integer": "not an integer",
    "bad-decimal": "not a decimal number in the declared format",
    "bad-date": "not a date in the declared format",
    "bad-time": "not a time in the declared format",
    "bad-datetime": "not a date and time in the declared format",
    "bad-boolean": "not one of the declared true or false words",
    "not-in-enum": "not one of the declared values",
    "bad-constant": "differs from the constant the tracciato declares",
    "bad-pattern": "does not match the declared pattern",
    "too-long": "longer than the maximum length (or the field's width)",
    "too-short": "shorter than the minimum length",
    "below-minimum": "smaller than the declared minimum",
    "above-maximum": "larger than the declared maximum",
    "too-many-decimals": "more decimal digits than the field's scale",
    "bad-partita-iva": "not a valid Italian VAT number (partita IVA)",
    "bad-codice-fiscale": "not a valid Italian tax code (codice fiscale)",
    "bad-ean13": "not a valid EAN-13 barcode",
    "unencodable": "a character the output encoding cannot represent",
    # writing
    "control-character": "a control character (CR, LF, TAB...) where it would break a record",
    "delimiter-in-field": "the delimiter inside a field of a layout that writes no quotes",
    "formula": "a text value a spreadsheet would run as a formula, in a layout that says "
               "formulas: refuse",
    "not-xml-character": "a character XML 1.0 cannot hold, even escaped (a control "
                         "character other than TAB, LF and CR; U+FFFE, U+FFFF; a lone "
                         "surrogate), in a value of an XML output",
    "replaced": "characters the output encoding lacks, written as its replacement (a note)",
    "transliterated": "characters the output encoding lacks, written as the closest ones "
                      "(a note)",
    "cut": "a value longer than its field, written cut to it, as the field's on_too_long "
           "says (a note)",
    # records and file
    "duplicate-key": "a key that must be unique appears again",
    "orphan-riga": "a child record with no parent record before it",
    "bad-order": "a record where the tracciato's order rules do not allow it",
    "missing-record": "a record type the tracciato requires is absent",
    "too-many-records": "a record type that may occur once appears again",
    "trailer-count-mismatch": "the trailer's count differs from the records counted",
    "control-total-mismatch": "a parent's total differs from the sum of its children",
    "file-total-mismatch": "a field differs from the sum of a field over a record type in "
                           "the whole file (a grand total in a trailer)",
    "link-mismatch": "a child record's field differs from its parent's (an order number "
                     "repeated on each line)",
    "rule-failed": "a record breaks a rule between its fields that the tracciato declares",
    "bad-sign": "the field that holds a number's sign holds neither a positive nor a "
                "negative sign",
    "too-few-rows": "fewer rows than the tracciato's minimum",
    "too-many-rows": "more rows than the tracciato's maximum",
    "too-many-issues": "more issues than a file's report lists: the rest are counted by code",
    "notes-counted": "more notes than a file's report lists (orders left waiting, VAT compared, "
                     "keys already sent...): the rest are counted by code (a note)",
    "errors-counted": "more errors of rows than a file's report lists: the rest are counted "
                      "by code (with skip-rows, their rows are left out all the same)",
    "too-many-columns": "a row with far more cells than the tracciato declares; not read",
    # flows
    "no-match": "a lookup found no row in the reference table, or a translate found the "
                "value in none of its code table's entries",
    "already-sent": "a business key already sent in an earlier file; skipped (a note)",
    "waiting": "rows a filter leaves out for now (an order not paid yet): nothing is "
               "remembered as sent, so a later file that shows them ready sends them (a note)",
    "never-sent": "rows whose business key no file sent, earlier or this one, where only "
                  "sent keys go on (a cancellation of an order the ERP never had); left out "
                  "(a note)",
    "cancelled-unsent": "rows whose business key a later file's cancellation, read first, "
                        "found never sent (their file failed, or came late): left out, so "
                        "the target never has an order without its cancellation; the "
                        "message names that file (a note)",
    "ambiguous-match": "a lookup matched a key that several rows of the reference share "
                       "with other values to take (an article twice in the master at two "
                       "VAT rates): the row is not given a guess",
    "shared-match": "a lookup matched a key that several rows of the reference share (a "
                    "group's VAT number): the first was taken (a note)",
    "withdrawn": "business keys sent before that this file no longer has, sent once more "
                 "as withdrawn (a delta step's gone: an article deleted in the ERP; a note)",
    "not-withdrawn": "business keys sent before that this file no longer has, over the "
                     "delta's gone.hold_above, not withdrawn: an operator approved only some "
                     "of the file's rows (a note; approve a whole file to withdraw them)",
    "superseded": "a file of a flow whose files each hold the whole state (read in place, "
                  "or a delta that withdraws) that a newer file of the flow was done after: "
                  "writing it would send older data over newer; refused",
    "bad-expression": "an expression of a step failed for this row",
    "bad-vat-rate": "a VAT rate of -100% or less, from which no net amount can be worked "
                    "out",
    "amount-too-large": "an amount a step worked out (a VAT, a net price, a percentage) "
                        "has more digits than an amount may hold (18)",
    "line-amount-mismatch": "a line's amount differs from quantity x unit price by more than "
                            "the cent an e-invoice allows (SdI check 00423)",
    "tax-mismatch": "the VAT computed for an order differs from the shop's own tax total by "
                    "more than the flow's tolerance (a note: the ERP's VAT is what is written)",
    "encoding-mismatch": "a file read in a one-byte code page (cp1252) whose bytes are all "
                         "UTF-8, letters of several bytes among them: every accented letter "
                         "would arrive as two (è as Ã¨); refused",
    "suspect-encoding": "text that reads like another code page's bytes (cp850 read as "
                        "cp1252: 'Nard•' for 'Nardò'): check the tracciato's encoding (a note)",
    "read-whole": "a file larger than one chunk was read whole, not chunk by chunk (the "
                  "message says why: memory grows with such a file; a note)",
    # the file's handling
    "bad-file-name": "a file name bridge cannot handle safely (not valid UTF-8, too long, a "
                     "path separator or a control character): the file is left where it is",
    "not-a-file": "an entry of the source folder under a name the flow takes that is not a "
                  "file (a symbolic link, a FIFO, a socket, a device): never followed nor "
                  "opened, left where it is",
    "file-too-large": "the file is larger than the flow's max_bytes: refused without reading it",
    "stray-claim": "a file under bridge's private name (.bridge-claim-ID) that its ledger does "
                   "not know as file ID's (a ledger restored from a backup): put in "
                   "quarantine, not imported",
    "changed-after-taken": "the sender wrote into (or over) a file after bridge took it: what "
                           "was taken is imported as its own file; the file as found is set "
                           "apart in quarantine, and the message says which of its bytes "
                           "(lines) were imported and which were not",
    "too-large-to-read-whole": "the file would be read whole (its groups apart in the file, "
                               "or a flow that needs the whole file), or one group of its rows "
                               "held whole, past the flow's whole_max_bytes: refused, as that "
                               "takes many times its size in memory",
    "unreadable-file": "not a file bridge may read: a link, a device or a FIFO where a file was "
                       "listed, or a file the server lists but refuses to serve",
    "internal-error": "bridge failed on this file because of a bug; the traceback is saved "
                      "beside it (bridge retry or bridge reject)",
    "operator-rejected": "an operator refused the file (bridge reject), or rows of it while "
                         "approving the others (bridge approve --rows/--except); the reason "
                         "is in the message",
    "left-unsent": "on a file an operator rejected before any of its outputs was written: "
                   "a later file of its flow skipped some of its business keys as already "
                   "sent; forgotten with the file, they reach no target until that file is "
                   "replayed with --unsent (the message names it)",
}

#: Codes that are notes, not errors: they never reject a file.
NOTE_CODES = frozenset({"already-sent", "waiting", "never-sent", "cancelled-unsent", "replaced",
                        "transliterated", "cut", "read-whole", "suspect-encoding",
                        "tax-mismatch", "notes-counted", "withdrawn", "not-withdrawn",
                        "shared-match"})

#: Codes of the issues that count the others past a file's cap: of the whole file, first.
COUNT_CODES = frozenset({"too-many-issues", "notes-counted", "errors-counted"})

#: Issues kept whole per file; past them, issues are only counted (:mod:`bridge.tally`).
#: A person reads the first few hundred; the rest would cost memory, not information.
MAX_ISSUES = 10_000


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem. ``line`` is 1-based in the file as received; ``None`` for the file."""

    code: str
    message: str
    line: int | None = None
    record: str | None = None
    field: str | None = None
    value: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown issue code {self.code!r}")

    @property
    def is_error(self) -> bool:
        return self.code not in NOTE_CODES

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def count_by_code(issues: Iterable[Issue]) -> dict[str, int]:
    """Issues per code, most frequent first."""
    return dict(Counter(i.code for i in issues).most_common())


def clip(value: object, limit: int = 200) -> str | None:
    """The raw value as shown in a report: never longer than ``limit`` characters."""
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
