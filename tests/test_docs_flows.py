"""docs/flows.md runs: its example configuration loads as written."""

from __future__ import annotations

import re
from pathlib import Path

from bridge.config import load

DOC = Path(__file__).resolve().parents[1] / "docs" / "flows.md"


def test_the_example_configuration_loads(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- bridge.yaml -->\n```yaml\n(.*?)```", text, re.S)
    assert block is not None
    cfg_path = tmp_path / "bridge.yaml"
    cfg_path.write_text(block.group(1), encoding="utf-8")
    cfg = load(cfg_path)
    flow = cfg.flows["ordini"]
    assert flow.source.ready.window == 30
    assert flow.targets[0].done_file is not None
    assert [s.kind for s in flow.steps] == ["dedupe", "lookup"]  # type: ignore[attr-defined]
    assert cfg.connections["shop"].type == "sftp"


def test_every_command_is_documented() -> None:
    from bridge.cli import main

    text = DOC.read_text(encoding="utf-8")
    flow_commands = {"run", "watch", "status", "history", "show", "pending", "approve",
                     "reject", "retry", "replay"}
    assert flow_commands <= set(main.commands)
    for name in flow_commands:
        assert f"bridge {name}" in text or f"`{name} ID" in text, name


def test_every_step_is_documented_with_an_example_that_loads() -> None:
    import yaml
    from pydantic import TypeAdapter

    from bridge.steps import KINDS, StepSpec

    text = (DOC.parent / "steps.md").read_text(encoding="utf-8")
    cells = [re.split(r"(?<!\\)\|", line) for line in text.splitlines()
             if line.startswith("| `")]
    rows = {c[1].strip(" `"): c[3].strip(" `") for c in cells}
    assert set(rows) == set(KINDS)
    adapter: TypeAdapter[object] = TypeAdapter(StepSpec)
    for kind, example in rows.items():
        step = adapter.validate_python(yaml.safe_load(example.replace("\\|", "|")))
        assert step.kind == kind  # type: ignore[attr-defined]


def test_the_states_table_is_the_state_machine() -> None:
    from bridge.states import ALL

    text = DOC.read_text(encoding="utf-8")
    section = text.split("## The life of a file")[1].split("\n## ")[0]
    documented = re.findall(r"^\| `([a-z]+)` \|", section, re.M)
    assert sorted(documented) == sorted(ALL)


def test_the_figures_in_the_docs_are_the_tests_own() -> None:
    """Each number flows.md quotes from a test is that test's own setting."""
    from tests import test_chaos, test_exactly_once, test_name_reuse

    text = " ".join(DOC.read_text(encoding="utf-8").split())
    runs = len(test_exactly_once.POINTS) * 3 + 15
    assert f"{runs} times over {test_exactly_once.FILES} files" in text
    assert f"at {len(test_exactly_once.POINTS)} named moments" in text
    poisons = test_chaos.FILES // 5
    assert f"over {test_chaos.FILES} files of which {poisons} are poison of ten kinds" in text
    assert len(test_chaos.POISONS) == 10
    assert "100 times on a local folder and 100 times over SFTP" in text
    assert test_name_reuse.TRIALS == 100
    from bridge.engine.claims import CLAIM_BATCH

    assert f"the next {CLAIM_BATCH} ready files of a flow" in text


def test_every_exit_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("Exit codes, the same for every command")[1]
    from bridge.cli import common

    assert re.findall(r"^\| (\d+) \|", table, re.M) == ["0", "1", "2", "3", "4", "130", "141"]
    assert (common.EXIT_INTERNAL, common.EXIT_INTERRUPTED, common.EXIT_BROKEN_PIPE) == (
        4, 130, 141)


def test_the_figures_of_scale_md_are_the_tests_own() -> None:
    """The workers, files and kills docs/scale.md quotes are the tests' parameters."""
    from tests import test_ledger_postgres as pg

    text = " ".join((DOC.parent / "scale.md").read_text(encoding="utf-8").split())

    def cases(test: object) -> list[tuple[object, ...]]:
        marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
        return [tuple(c) for c in marks[0].args[1]]

    split = cases(pg.test_three_workers_killed_at_random_write_what_one_worker_writes)
    assert split == [("local", 6, 500, 30), ("sftp", 3, 40, 10)]
    assert ("workers on six flows of 500 files each (3,000 files), each worker killed with "
            "SIGKILL at a random moment of each round, 30 kills or more") in text
    assert "OpenSSH sshd (three flows of 40 files, 10 kills or more)" in text
    shared = cases(pg.test_three_workers_share_the_files_of_one_flow_in_any_order)
    assert shared == [("local", 600, 30), ("sftp", 60, 10)]
    assert ("three workers at once on the 600 files of one flow in any order, each killed "
            "with SIGKILL at a random moment of each round, within 0.15 seconds of the "
            "round's first output so that the kills land in the work however fast the "
            "machine (30 kills or more), and on 60 files from the real OpenSSH sshd (10 "
            "kills or more)") in text


def test_the_steps_the_sample_leaves_out_are_named() -> None:
    """steps.md says which steps samples/bridge.yaml uses: every one, but those it names."""
    from bridge.steps import KINDS

    cfg = load(DOC.parents[1] / "samples" / "bridge.yaml")
    used = {s.kind for flow in cfg.flows.values() for s in flow.steps}  # type: ignore[attr-defined]
    text = " ".join((DOC.parent / "steps.md").read_text(encoding="utf-8").split())
    said = re.search(r"`samples/bridge.yaml` uses every one of them"
                     r"((?: but)?(?:,? (?:and )?`[a-z]+`)*)", text)
    assert said is not None
    assert set(re.findall(r"`([a-z]+)`", said.group(1))) == set(KINDS) - used
