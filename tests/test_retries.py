"""Retries as documented, on a clock the test moves (``BRIDGE_FAKE_CLOCK``), through the CLI.

A file that fails on a transient error is tried at most once a pass, again after
``retry_backoff`` seconds, doubling each time, and after ``max_attempts`` attempts it is
``failed``: it waits for a person and no longer counts against later runs.
"""

from __future__ import annotations

from pathlib import Path

from tests.flowkit import CONFIG, bridge_cli, make_world, order_file


def test_backoff_doubles_and_attempts_stop_at_max(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace(
        "retry_backoff: 0", "retry_backoff: 30\n    max_attempts: 4"))
    clock = tmp_path / "clock"
    env = {"BRIDGE_FAKE_CLOCK": str(clock)}
    (tmp_path / "erp").write_text("a file where the folder should be", encoding="utf-8")
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")

    def run_at(t: float) -> tuple[int, int]:
        clock.write_text(str(t), encoding="ascii")
        got = bridge_cli(cfg, "run", env=env)
        assert "Traceback" not in got.stdout + got.stderr
        story = bridge_cli(cfg, "show", "1", env=env).stdout
        attempts = int(story.split(" attempt(s)")[0].rsplit(" ", 1)[-1])
        return got.returncode, attempts

    # (time, exit code, attempts so far): tries at 1000, then 30, 60, 120 s after each
    expected = [(1000, 3, 1), (1010, 3, 1), (1029, 3, 1), (1030, 3, 2), (1089, 3, 2),
                (1090, 3, 3), (1209, 3, 3), (1210, 3, 4), (5000, 0, 4), (90000, 0, 4)]
    assert [(t, *run_at(t)) for t, _, _ in expected] == expected
    story = bridge_cli(cfg, "show", "1", env=env).stdout
    assert "state failed" in story and "gave up after 4 attempts" in story
    events = [ln.split()[2] for ln in story.splitlines() if ln.startswith("  1970-")]
    assert events == ["claimed", "fetched", "checked", "retrying", "retrying", "retrying",
                      "failed"]
    # an operator's retry ignores backoff and attempts; with the target fixed, it is written
    (tmp_path / "erp").unlink()
    clock.write_text("90001", encoding="ascii")
    retry = bridge_cli(cfg, "retry", "1", env=env)
    assert retry.returncode == 0 and "a.csv: done" in retry.stdout


def test_one_attempt_per_file_per_pass(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)  # retry_backoff: 0, so every pass may try again
    (tmp_path / "erp").write_text("a file where the folder should be", encoding="utf-8")
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    for n in (1, 2, 3):
        assert bridge_cli(cfg, "run").returncode == 3
        story = bridge_cli(cfg, "show", "1").stdout
        assert f"{n} attempt(s)" in story
