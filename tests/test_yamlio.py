"""bridge's YAML: booleans are only true/false (a lookup's `on:` stays `on`, an enum value
`NO` stays text), and a syntax error says where and what in words, with the usual trap."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load
from bridge.errors import ConfigError
from bridge.spec import parse
from bridge.yamlio import YamlError
from bridge.yamlio import load as load_yaml
from tests.flowkit import CONFIG, make_world


def test_only_true_and_false_are_booleans() -> None:
    data = load_yaml("on: codice\nyes: 1\nn: NO\noff_: off\nt: true\nf: False\nnum: 1.50\n")
    assert data == {"on": "codice", "yes": 1, "n": "NO", "off_": "off", "t": True,
                    "f": False, "num": 1.5}


def test_a_lookup_reads_on_and_an_enum_keeps_no() -> None:
    t = parse("""
format: delimited
records:
  riga:
    fields:
      - {name: paese, type: enum, values: [IT, NO, SE]}
      - {name: attivo, type: boolean, true_values: [yes], false_values: [no]}
""")
    fields = {f.name: f for f in t.records["riga"].fields}
    assert fields["paese"].values == ["IT", "NO", "SE"]
    assert (fields["attivo"].true_values, fields["attivo"].false_values) == (["yes"], ["no"])


@pytest.mark.parametrize(("text", "where", "hint"), [
    ("pw: {password: ${PW}}\n", "line 1, column 17", 'must be quoted: write "${VAR}"'),
    ("a:\n\tb: 1\n", "line 2, column 1", "does not allow tabs"),
    ("a: b: c\n", "line 1, column 5", "a value holding ': ' must be quoted"),
    ("x: {a: 1, b: {c}\n", "line 2, column 1", "inside {...}"),
])
def test_a_syntax_error_says_where_and_what(text: str, where: str, hint: str) -> None:
    with pytest.raises(YamlError) as got:
        load_yaml(text)
    assert got.value.where == where
    assert hint in got.value.message and got.value.message.startswith("not valid YAML: ")


def test_the_configuration_says_it_in_words(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace(
        "ledger: state/ledger.sqlite",
        "connections:\n  shop: {type: sftp, host: h, user: u, password: ${PW}}\n"
        "ledger: state/ledger.sqlite"))
    with pytest.raises(ConfigError, match=r"bridge.yaml: line 3, column \d+: not valid YAML: "
                                          r".*must be quoted: write \"\$\{VAR\}\""):
        load(cfg)


def test_every_shipped_file_reads_as_before_but_for_on() -> None:
    """The shipped tracciati and the samples' configuration give the same data as PyYAML's
    own safe loader, except the keys YAML 1.1 made booleans (`on:`)."""
    import yaml

    from tests.conftest import ROOT

    for path in [*(ROOT / "tracciati").glob("*/*.yaml"), ROOT / "samples" / "bridge.yaml"]:
        text = path.read_text(encoding="utf-8")
        ours, theirs = load_yaml(text), yaml.safe_load(text)
        assert ours == theirs or path.name == "bridge.yaml", path
    sample = load_yaml((ROOT / "samples" / "bridge.yaml").read_text(encoding="utf-8"))
    match = sample["flows"]["ordini"]["steps"][4]["lookup"]["match"]
    assert match == [{"field": "lineitem_sku", "on": "codice"}]


def test_a_key_path_finds_the_line_of_its_deepest_key() -> None:
    from bridge.yamlio import key_line

    text = ("ledger: x\n"
            "flows:\n"
            "  ordini:\n"
            "    steps:\n"
            "      - dedupe: {key: [name]}\n"
            "      - compute:\n"
            "          fields: {a: b}\n"
            "    targets: [{folder: erp}, {folder: easy}]\n")
    assert key_line(text, "flows.ordini.steps[1].compute") == 6
    assert key_line(text, "flows.ordini.steps[0]") == 5
    assert key_line(text, "flows.ordini.steps[1].compute.fields") == 7
    assert key_line(text, "flows.ordini.targets[1].folder") == 8
    assert key_line(text, "flows.ordini.nothing") == 3  # as deep as it goes
    assert key_line(text, "flows.ordini.steps[9]") == 4
    assert key_line(text, "connections.shop") is None
    assert key_line("a: [unclosed", "a") is None


@pytest.mark.parametrize(("text", "where", "key", "first"), [
    ("flows:\n  ordini: {a: 1}\n  clienti: {b: 2}\n  ordini: {c: 3}\n", "line 4, column 3",
     "'ordini'", 2),
    ("encoding: cp1252\nencoding: utf-8\n", "line 2, column 1", "'encoding'", 1),
    ("fields:\n  - {name: codice, max_length: 20, max_length: 2}\n", "line 2, column 36",
     "'max_length'", 2),
    ("steps:\n  - filter: {keep: x}\nsteps:\n  - compute: {}\n", "line 3, column 1",
     "'steps'", 1),
])
def test_a_key_written_twice_is_refused_with_both_lines(text: str, where: str, key: str,
                                                         first: int) -> None:
    """PyYAML keeps a key's second value and drops the first unsaid: a second flow named
    as an earlier one replaced it, and the configuration checked clean."""
    with pytest.raises(YamlError) as got:
        load_yaml(text)
    assert got.value.where == where
    assert f"the key {key} is written twice" in got.value.message
    assert f"first on line {first})" in got.value.message


def test_a_merged_key_written_again_is_the_merge_s_purpose() -> None:
    data = load_yaml("base: &b {host: h, port: 22}\nshop: {<<: *b, port: 2222}\n"
                     "same: {a: 1, b: {a: 2}}\n")
    assert data["shop"] == {"host": "h", "port": 2222}
    assert data["same"] == {"a": 1, "b": {"a": 2}}  # one key in two mappings: not twice


MERGED = """\
base: &base {host: h, port: 22, user: bridge}
shop: &shop
  <<: *base
  port: 2222
erp:
  <<: *shop
  folder: in
both: {<<: [*shop, *base], folder: out}
again: {<<: [*base, *shop]}
inline:
  <<: &deep
    <<: *base
    user: erp
  port: 21
deep: *deep
"""


def test_a_merge_of_a_merge_keeps_its_overrides() -> None:
    """PyYAML 6.0.4 kept the first value a merge met: ``erp``, merging ``shop`` (which
    overrides ``base``'s port), got ``base``'s port 22, unsaid: a flow sharing an anchored
    connection would have gone to another server. Its own keys win, then the mappings of
    a merge's list in order."""
    data = load_yaml(MERGED)
    assert data["shop"] == {"host": "h", "port": 2222, "user": "bridge"}
    assert data["erp"] == {"host": "h", "port": 2222, "user": "bridge", "folder": "in"}
    assert data["both"] == {"host": "h", "port": 2222, "user": "bridge", "folder": "out"}
    assert data["again"] == {"host": "h", "port": 22, "user": "bridge"}
    assert data["inline"] == {"host": "h", "port": 21, "user": "erp"}
    assert data["deep"] == {"host": "h", "port": 22, "user": "erp"}


@pytest.mark.parametrize("text, line", [
    ("a: &a {x: 1, x: 2}\nb: {<<: *a}\n", 1),
    ("b:\n  <<: &a {y: 1, y: 2}\nc: *a\n", 2),
])
def test_a_key_twice_in_a_merged_mapping_is_refused_in_plain_words(text: str,
                                                                    line: int) -> None:
    with pytest.raises(YamlError) as got:
        load_yaml(text)
    assert got.value.where.startswith(f"line {line},")
    assert "written twice" in got.value.message and "inside {...}" not in got.value.message


def test_a_merge_of_no_mapping_is_refused() -> None:
    with pytest.raises(YamlError, match="expected a mapping or list of mappings"):
        load_yaml("a: {<<: 3}\n")


def test_a_configuration_with_two_flows_of_one_name_is_refused(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG)
    text = cfg.read_text(encoding="utf-8")
    flows = text.index("\nflows:\n") + len("\nflows:\n")
    head = text[flows:].split("\n", 1)[0]  # the first flow's name, as written
    cfg.write_text(text[:flows] + f"{head}\n    tracciato: x/y\n" + text[flows:],
                   encoding="utf-8")
    with pytest.raises(ConfigError, match=r"written twice in one mapping \(first on line"):
        load(cfg)


def test_a_merge_key_written_twice_in_one_mapping_is_refused() -> None:
    """``<<: *a`` then ``<<: *b`` in one mapping: the second merge's values won unsaid,
    where a list of merges (``<<: [*a, *b]``) gives the first the precedence."""
    text = "a: &a {port: 22}\nb: &b {port: 2222}\nshop:\n  <<: *a\n  <<: *b\n"
    with pytest.raises(YamlError) as got:
        load_yaml(text)
    assert got.value.where.startswith("line 5"), got.value
    assert "<<: [" in str(got.value), got.value
