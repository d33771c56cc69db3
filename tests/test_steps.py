"""Flow steps: each step on small typed tables, and Shopify orders into gestionale/ordini."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from bridge.errors import ConfigError
from bridge.steps import StepContext, StepResult, StepSpec, apply_steps

ROOT = Path(__file__).resolve().parents[1]
STEPS = TypeAdapter(list[StepSpec])
D = Decimal


def frame(**columns: Any) -> pd.DataFrame:
    """A typed table as the codecs give it: Arrow columns, plus _line from 2 (after a header)."""
    arrays = {k: v if isinstance(v, pa.Array) else pa.array(v) for k, v in columns.items()}
    n = len(next(iter(arrays.values())))
    arrays.setdefault("_line", pa.array(range(2, n + 2), pa.int64()))
    return pa.table(arrays).to_pandas(types_mapper=pd.ArrowDtype)


def money(*values: str | None) -> pa.Array:
    return pa.array([None if v is None else D(v) for v in values], pa.decimal128(18, 2))


def run(steps: str, tables: dict[str, pd.DataFrame], **ctx: Any) -> StepResult:
    return apply_steps(STEPS.validate_python(yaml.safe_load(steps)), tables, StepContext(**ctx))


def codes(result: StepResult) -> list[str]:
    return [i.code for i in result.issues]


# ---- the language --------------------------------------------------------------------------

def test_steps_read_from_yaml_as_one_key_mappings() -> None:
    steps = STEPS.validate_python(yaml.safe_load("""
        - rename: {fields: {a: b}}
        - set: {fields: {valuta: EUR, aliquota: 22.5}}
        - drop: {tables: [x]}
    """))
    assert [s.kind for s in steps] == ["rename", "set", "drop"]
    assert steps[1].args.fields["aliquota"] == D("22.5")  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", [
    "- renmae: {fields: {a: b}}",
    "- {rename: {fields: {a: b}}, set: {fields: {c: 1}}}",
    "- rename: {fields: {a: b}, colour: red}",
    "- lookup: {reference: r, match: [], take: {a: b}}",
    "- lookup: {reference: r, match: [{field: a, on: b}], take: {a: b}, missing: default}",
    "- group: {by: [n], header: {into: t}, lines: {into: t}}",
])
def test_bad_steps_are_refused_when_loaded(bad: str) -> None:
    with pytest.raises(ValidationError):
        STEPS.validate_python(yaml.safe_load(bad))


# ---- one step at a time --------------------------------------------------------------------

def test_rename_set_compute_map_drop() -> None:
    rows = frame(sku=["A", "B"], qty=[2, 3], price=money("1.10", "0.10"))
    result = run("""
        - rename: {fields: {sku: codice}}
        - set: {fields: {valuta: EUR, sconto: 0.10}}
        - compute: {fields: {importo: "qty * price", netto: "importo - sconto",
                             codice: "codice | lower"}}
        - map: {into: righe, fields: {articolo: codice, totale: "netto | round2"}}
        - drop: {tables: [ordini]}
    """, {"ordini": rows})
    righe = result.tables["righe"]
    assert list(righe.columns) == ["_line", "articolo", "totale"]
    assert righe["articolo"].tolist() == ["a", "b"]
    assert righe["totale"].tolist() == [D("2.10"), D("0.20")]
    assert righe["_line"].tolist() == [2, 3]
    assert result.issues == []


def test_decimal_arithmetic_is_exact() -> None:
    rows = frame(a=money("0.10", None), b=money("0.20", "0.20"))
    result = run("""
        - compute: {fields: {s: "a + b", t: "b * 1.1", r: "(b * 1.125) | round2",
                             u: "(a | default(0)) + 0.1 + 0.2"}}
    """, {"x": rows})
    x = result.tables["x"]
    assert x["s"].iloc[0] == D("0.30") and pd.isna(x["s"].iloc[1])
    assert x["t"].tolist() == [D("0.22"), D("0.22")]
    assert x["r"].tolist() == [D("0.23"), D("0.23")]  # 0.225 half-up, not to even
    assert x["u"].tolist() == [D("0.40"), D("0.3")]
    assert codes(result) == ["bad-expression"]  # None + 0.20 on the second row
    assert result.issues[0].line == 3 and result.issues[0].field == "s"
    assert result.issues[0].value == "a=None, b=Decimal('0.20')"  # what the row gave


def test_each_failed_row_says_what_it_gave_the_expression() -> None:
    """The inputs of every failed row, by name, each row its own (they are taken for all
    the failed rows at once)."""
    rows = frame(q=[1, None, 3, None, 5], p=money("1.00", "2.00", None, "4.00", "5.00"),
                 other=["x", "y", "z", "w", "v"])
    result = run('- compute: {fields: {t: "q * p"}}', {"x": rows})
    assert codes(result) == ["bad-expression"] * 3
    assert [(i.line, i.value) for i in result.issues] == [
        (3, "p=Decimal('2.00'), q=None"), (4, "p=None, q=3"), (5, "p=Decimal('4.00'), q=None")]


def test_filters_for_erps_keep_missing_values_missing() -> None:
    rows = frame(v=["IT 01234-567 ", None], n=["#7", "#8"])
    x = run("""
        - compute: {fields: {d: "v | digits", z: "n | digits | zfill(5)", u: "v | upper",
                             t: "v | truncate(2)", k: "n | replace('#', '') | int"}}
    """, {"x": rows}).tables["x"]
    assert x["d"].tolist()[0] == "01234567" and pd.isna(x["d"].iloc[1])
    assert x["z"].tolist() == ["00007", "00008"]
    assert x["u"].iloc[0] == "IT 01234-567 " and pd.isna(x["u"].iloc[1])
    assert x["t"].iloc[0] == "IT" and x["k"].tolist() == [7, 8]


def test_int_filter_refuses_what_is_not_a_number() -> None:
    result = run('- compute: {fields: {k: "n | replace(\'#\', \'\') | int"}}',
                 {"x": frame(n=["#12", "#A1"])})
    assert result.tables["x"]["k"].iloc[0] == 12 and pd.isna(result.tables["x"]["k"].iloc[1])
    assert codes(result) == ["bad-expression"] and result.issues[0].line == 3


@pytest.mark.parametrize("escape", [
    "''.__class__.__mro__",
    "cycler.__init__.__globals__",
    "name.__class__.__base__.__subclasses__()",
    "(name | attr('__class__'))",
    "joiner.__init__.__globals__['os']",
])
def test_sandbox_escapes_fail_as_issues(escape: str) -> None:
    result = run(yaml.safe_dump([{"compute": {"fields": {"out": escape}}}]),
                 {"x": frame(name=["a", "b"])})
    assert codes(result) == ["bad-expression", "bad-expression"]
    assert result.tables["x"]["out"].isna().all()
    assert "steps[0].compute" in result.issues[0].message


def test_filter_keeps_rows_and_decides_per_group() -> None:
    rows = frame(name=["#1", "#1", "#2", "#2", "#3"],
                 status=["paid", None, "refunded", None, "paid"])
    by_row = run("- filter: {keep: \"status != 'refunded'\"}", {"o": rows}).tables["o"]
    assert by_row["_line"].tolist() == [2, 3, 5, 6]  # the refunded order's second row leaks
    by_order = run("- filter: {keep: \"status != 'refunded'\", by: [name]}",
                   {"o": rows}).tables["o"]
    assert by_order["name"].tolist() == ["#1", "#1", "#3"]


def test_dedupe_skips_keys_sent_before_and_lists_the_new_ones() -> None:
    rows = frame(name=["#1", "#1", "#2", "#3"])
    asked: list[list[str]] = []

    def already_sent(keys: list[str]) -> set[str]:
        asked.append(keys)
        return {"#2"}

    result = run("- dedupe: {key: [name]}", {"o": rows}, already_sent=already_sent)
    assert asked == [["#1", "#2", "#3"]]
    assert result.tables["o"]["name"].tolist() == ["#1", "#1", "#3"]
    assert result.skipped_keys == ["#2"] and result.sent_keys == ["#1", "#3"]
    assert codes(result) == ["already-sent"] and result.issues[0].line == 4


def test_dedupe_keep_sent_counts_the_keys_this_file_sends() -> None:
    """A credit note (table n) goes for an order the ERP has: sent by an earlier file (#2),
    or by this one, through a `dedupe` before (#1); the others are `never-sent` (#3)."""
    tables = {"o": frame(name=["#1", "#2", "#3"], _line=pa.array([2, 3, 4])),
              "n": frame(name=["#1", "#2", "#3"], _line=pa.array([2, 3, 4]))}
    result = run("- filter: {table: o, keep: \"name != '#3'\"}\n"
                 "- dedupe: {table: o, key: [name]}\n"
                 "- dedupe: {table: n, key: [name], keep: sent}",
                 tables, already_sent=lambda keys: {"#2"} & set(keys))
    assert result.tables["o"]["name"].tolist() == ["#1"]
    assert result.tables["n"]["name"].tolist() == ["#1", "#2"]
    assert [(i.code, i.value) for i in result.issues] == [("already-sent", "#2"),
                                                        ("never-sent", "#3")]
    assert result.sent_keys == ["#1"]


def test_dedupe_of_headers_drops_their_lines_too() -> None:
    tables = {"testata": frame(numero=[1, 2], _line=pa.array([1, 3])),
              "righe": frame(sku=["a", "b", "c"], _line=pa.array([2, 4, 5]),
                             _parent_line=pa.array([1, 3, 3]))}
    result = run("- dedupe: {table: testata, key: [numero]}", tables,
                 already_sent=lambda keys: {"2"})
    assert result.tables["righe"]["sku"].tolist() == ["a"]


CLIENTI = pd.DataFrame({
    "email": ["anna@example.it", "BEPPE@example.it", None],
    "partita_iva": ["01234567890", None, "09876543210"],
    "codice": ["C001", "C002", "C003"],
    "agente": ["AG1", None, "AG3"],
})


def lookup_rows() -> pd.DataFrame:
    return frame(email=["anna@example.it", "beppe@example.it", "x@example.it", None],
                 piva=[None, None, "09876543210", "11111111111"])


LOOKUP = """
- lookup:
    reference: clienti
    match:
      - {field: email, on: email, ignore_case: true}
      - {field: piva, on: partita_iva}
    take: {codice_cliente: codice, codice_agente: agente}
    missing: %s
    default: {codice_cliente: WEB0001}
"""


def test_lookup_tries_keys_in_order() -> None:
    result = run(LOOKUP % "issue", {"o": lookup_rows()}, reference={"clienti": CLIENTI}.get)
    o = result.tables["o"]
    assert o["codice_cliente"].tolist()[:3] == ["C001", "C002", "C003"]
    assert o["codice_agente"].tolist()[2] == "AG3"
    assert codes(result) == ["no-match"]
    assert result.issues[0].line == 5 and result.issues[0].field == "piva"
    assert "11111111111" in result.issues[0].message


@pytest.mark.parametrize(("missing", "fourth", "n_issues", "n_held"), [
    ("issue", None, 1, 0),
    ("default", "WEB0001", 0, 0),
    ("hold", "WEB0001", 0, 1),
    ("ignore", "WEB0001", 0, 0),
])
def test_lookup_missing_policies(missing: str, fourth: str | None, n_issues: int,
                                 n_held: int) -> None:
    steps = LOOKUP % missing if missing != "issue" else (LOOKUP % missing).replace(
        "    default: {codice_cliente: WEB0001}\n", "")
    result = run(steps, {"o": lookup_rows()}, reference=lambda name: CLIENTI)
    got = result.tables["o"]["codice_cliente"].iloc[3]
    assert (pd.isna(got) if fourth is None else got == fourth)
    assert len(result.issues) == n_issues and len(result.held) == n_held
    if n_held:
        assert "line 5" in result.held[0]


def test_errors_past_the_callers_room_carry_their_line_alone() -> None:
    """A stale reference fails every row of a large file in several steps: past the
    errors its caller still keeps, a step adds each error with its code and line alone
    (enough to leave the row out and count it), the first ones as ever."""
    steps = (LOOKUP % "issue").replace("    default: {codice_cliente: WEB0001}\n", "") + """
- translate: {field: pay, values: {Carta: CC}}
- compute: {fields: {quota: "10 // zero"}}
- check: {rules: [{that: "zero > 0", field: zero, code: rule-failed}]}
"""
    n = 4
    tables = {"o": frame(email=[f"{i}@example.it" for i in range(n)], piva=[None] * n,
                         pay=["Altro"] * n, zero=[0] * n)}
    every = run(steps, tables, reference=lambda name: CLIENTI)
    lines = list(range(2, n + 2))
    assert [(i.code, i.line) for i in every.issues] == [
        (code, line) for code in ("no-match", "no-match", "bad-expression", "rule-failed")
        for line in lines]
    for room in (0, 3, 9, 4 * n):
        capped = run(steps, tables, reference=lambda name: CLIENTI, errors_room=room)
        assert capped.issues == every.issues[:room]
        past = every.issues[room:]
        assert capped.unbuilt == Counter(i.code for i in past)
        assert sorted(line for lines in capped.unbuilt_lines for line in lines.to_pylist()) \
            == sorted(i.line for i in past)
        assert capped.tables["o"].equals(every.tables["o"])


def test_errors_not_built_leave_their_rows_out_and_a_whole_one_everything() -> None:
    """The lines of errors past the room leave their rows out as built errors' do; a
    null among them (an expression stopped on the whole table) leaves nothing."""
    from bridge.engine.tables import bad_lines, drop_bad_rows
    from bridge.issues import Issue

    t = frame(ordine=["1", "1", "2", "3", "3"])
    tables = {"o": t}
    built = [Issue("rule-failed", "x", 2, "o", "ordine")]
    assert bad_lines(built, [pa.array([6], pa.int64())]) == {2, 6}
    kept = drop_bad_rows(tables, built, None, [pa.chunked_array([[6]], pa.int64())])
    assert kept["o"]["_line"].tolist() == [3, 4, 5]
    assert bad_lines([], [pa.array([4, None], pa.int64())]) is None
    assert len(drop_bad_rows(tables, [], None, [pa.array([None], pa.int64())])["o"]) == 0


def test_group_makes_headers_lines_numbers_and_exact_totals() -> None:
    rows = frame(name=["#1", "#1", "#2", "#1"], email=["a@x.it", None, "b@x.it", None],
                 qty=[1, 2, 1, 3], price=money("0.10", "0.10", "5.00", "0.00"))
    result = run("""
        - compute: {fields: {importo: "qty * price"}}
        - group:
            by: [name]
            header: {into: testata, fields: {ordine: "name | replace('#','') | int",
                                             cliente: email}}
            lines: {into: righe, fields: {quantita: qty, importo: importo}}
            number_lines: riga
            totals: {totale: {sum: importo}}
        - trailer: {into: coda, count: numero_record, fields: {creato: now}}
    """, {"ordini": rows}, variables={"now": dt.date(2025, 10, 9)})
    t, r, z = (result.tables[n] for n in ("testata", "righe", "coda"))
    assert "ordini" not in result.tables
    assert t["cliente"].tolist() == ["a@x.it", "b@x.it"]  # the first row of each group
    assert t["totale"].tolist() == [D("0.30"), D("5.00")]
    assert t["_line"].tolist() == [2, 4]
    assert r["riga"].tolist() == [1, 2, 1, 3]
    assert r["_parent_line"].tolist() == [2, 2, 4, 2]
    assert z["numero_record"].tolist() == [7] and "_line" not in z.columns
    assert z["creato"].tolist() == [dt.date(2025, 10, 9)]


# ---- configuration mistakes ----------------------------------------------------------------

@pytest.mark.parametrize(("steps", "message"), [
    ("- set: {fields: {a: 1}}\n- lookup: {table: ordini, reference: clienti, "
     "match: [{field: emial, on: email}], take: {c: codice}}",
     "steps[1].lookup: table 'ordini' has no field 'emial'"),
    ("- compute: {fields: {x: 'quantity * prize'}}",
     "steps[0].compute: table 'ordini' has no field 'prize'"),
    ("- compute: {table: ordine, fields: {x: '1'}}", "steps[0].compute: no table 'ordine'"),
    ("- compute: {fields: {x: 'a +* b'}}", "steps[0].compute: cannot read expression"),
    ("- lookup: {reference: nessuna, match: [{field: email, on: email}], take: {c: c}}",
     "steps[0].lookup: no reference table 'nessuna'"),
    ("- group: {by: [name], header: {into: t}, totals: {x: {sum: email}}}",
     "steps[0].group: totals.x: 'email' holds string"),
    ("- drop: {tables: [righe]}", "steps[0].drop: no table 'righe'"),
])
def test_config_errors_name_the_step(steps: str, message: str) -> None:
    rows = frame(name=["#1"], email=["a@x.it"], quantity=[1])
    with pytest.raises(ConfigError) as err:
        run(steps, {"ordini": rows}, reference={"clienti": CLIENTI}.__getitem__)
    assert message in str(err.value)


def test_default_table_must_be_named_when_there_are_several() -> None:
    with pytest.raises(ConfigError, match="name the table"):
        run("- set: {fields: {a: 1}}", {"a": frame(x=[1]), "b": frame(y=[1])})


def test_group_numbers_follow_first_appearance_as_pandas_numbers_them() -> None:
    """Groups by one and by several fields, nulls a value of their own, tables in chunks:
    the same numbers as pandas' ``groupby(sort=False, dropna=False).ngroup()``."""
    import random
    from decimal import Decimal

    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from bridge.steps.ops import group_ids

    rng = random.Random(7)
    for _ in range(60):
        n = rng.randint(0, 40)
        part = pa.table({
            "a": pa.array([rng.choice([None, "x", "y", ""]) for _ in range(n)], pa.string()),
            "b": pa.array([rng.choice([None, 1, 2]) for _ in range(n)], pa.int64()),
            "c": pa.array([rng.choice([None, Decimal("1.50"), Decimal("2.00")])
                           for _ in range(n)], pa.decimal128(5, 2))})
        table = pa.concat_tables([part, part.slice(0, n // 2)])  # two chunks
        for by in (["a"], ["b"], ["a", "b"], ["c", "a", "b"]):
            frame = table.select(by).to_pandas(types_mapper=pd.ArrowDtype)
            want = frame.groupby(by, sort=False, dropna=False).ngroup().to_numpy(np.int64)
            groups, firsts = group_ids(table, by)
            assert groups.tolist() == want.tolist()
            assert firsts.tolist() == np.unique(want, return_index=True)[1].tolist()


def test_an_expression_made_once_is_taken_again_only_where_its_names_mean_the_same() -> None:
    """The steps make each expression once and take it again for the next chunk or file,
    where its names are columns or variables as before (a column reads the table's values
    all the same); a table where one of them is missing gets it compiled again, and the
    same error as compiled afresh."""
    from bridge.steps.work import Work

    src = "qty * 2 + bonus"
    work = Work({}, StepContext(variables={"bonus": 1}))
    wide = pa.table({"qty": [1, 2], "other": ["a", "b"]})
    first = work.expression(src, "t", wide)
    assert work.expression(src, "t", pa.table({"qty": [5], "x": [0]})) is first
    assert first.evaluate(wide, {"bonus": 1})[0].to_pylist() == [3, 5]
    # bonus a column of this table: its own values, not the variable's
    own = work.expression(src, "t", pa.table({"qty": [1], "bonus": [10]}))
    assert own.evaluate(pa.table({"qty": [1], "bonus": [10]}), {"bonus": 1})[0].to_pylist() \
        == [12]
    with pytest.raises(ConfigError, match="has no field 'qty'"):
        work.expression(src, "t", pa.table({"other": ["a"]}))
    # The name of a column is that column; elsewhere, the same text is an expression.
    assert work.expression("bonus", "t", pa.table({"bonus": [7]})).column == "bonus"
    assert work.expression("bonus", "t", wide).column is None
    with pytest.raises(ConfigError, match="has no field 'bonus'"):
        Work({}, StepContext()).expression(src, "t", wide)


def test_an_ambiguous_match_names_the_first_five_values_and_counts_the_rest() -> None:
    """The operator reads which values the lookup could not choose between: the first
    five, in the reference's order, each once, the others counted."""
    master = frame(codice=["A"] * 9, iva=["1", "2", "1", "3", "4", "5", "6", "7", "6"])
    got = run("""
      - lookup: {reference: articoli, match: [{field: sku, on: codice}], take: {iva: iva},
                 shared: refuse}
    """, {"riga": frame(sku=["A"])}, reference=lambda n: master)
    [issue] = got.issues
    assert "other values of iva ('1', '2', '3', '4', '5' and 2 more): which" in issue.message


def test_a_key_shared_by_rows_that_differ_is_refused_where_asked() -> None:
    """An article twice in the master at two VAT rates: `shared: first` (the default)
    takes the first row, which was a guess; `shared: refuse` makes the line an
    `ambiguous-match` error. Rows that share a key and agree are one; a null agrees with a
    null; `note` and `first` are unchanged."""
    master = frame(codice=["TRAP", "VITI", "TRAP", "NASTRO", "NASTRO", "COLLA", "COLLA"],
                   iva=["22", "22", "10", "4", "4", None, None],
                   nome=["t", "v", "t", "n", "n", "c", "c2"])
    orders = {"riga": frame(sku=["VITI", "TRAP", "NASTRO", "NOPE", "COLLA", "TRAP"])}
    step = """
      - lookup: {reference: articoli, match: [{field: sku, on: codice}], take: {iva: iva},
                 missing: ignore, shared: SHARED}
    """
    refused = run(step.replace("SHARED", "refuse"), orders, reference=lambda n: master)
    assert [(i.code, i.line, i.value) for i in refused.issues] == [
        ("ambiguous-match", 3, "TRAP"), ("ambiguous-match", 7, "TRAP")]
    assert "several rows of 'articoli' with other values of iva ('22', '10'): which one " \
           "is meant?" in refused.issues[0].message
    # Taking the name too: COLLA's two rows now differ; each value is said as the row has it.
    both = run(step.replace("SHARED", "refuse").replace("take: {iva: iva}",
                                                        "take: {iva: iva, nome: nome}"),
               orders, reference=lambda n: master)
    assert [i.line for i in both.issues] == [3, 6, 7]
    assert "other values of iva, nome (None / 'c', None / 'c2')" in both.issues[1].message
    for shared in ("first", "note"):
        got = run(step.replace("SHARED", shared), orders, reference=lambda n: master)
        assert "ambiguous-match" not in codes(got)
        assert got.arrow["riga"].column("iva").to_pylist() == ["22", "22", "4", None, None,
                                                              "22"]


def test_a_row_left_out_after_the_delta_leaves_no_fingerprint() -> None:
    """Its state was never sent: remembered, the next file would compare with it. Where a
    later step renamed the key's field, the row cannot be named: it is kept as before."""
    prices = {"p": frame(codice=["A", "B", "C"], prezzo=money("1.00", "2.00", "3.00"))}
    delta = "- delta: {table: p, key: [codice], fields: [prezzo]}\n"
    kept = run(delta + "- filter: {table: p, keep: 'prezzo > 1.5'}", prices)
    assert sorted(kept.fingerprints) == ["B", "C"]
    renamed = run(delta + "- rename: {table: p, fields: {codice: sku}}\n"
                  "- filter: {table: p, keep: 'prezzo > 1.5'}", prices)
    assert sorted(renamed.fingerprints) == ["A", "B", "C"]
    assert renamed.arrow["p"].column("sku").to_pylist() == ["B", "C"]
