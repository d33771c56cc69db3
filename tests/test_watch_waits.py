"""A file that waits for another file's approval (a cancellation whose order is held) is a
wait, not a failure: `bridge watch` logged it at ERROR on every try, and its flow, while the
file waited, was never said to work again after a real failure was over."""

from __future__ import annotations

from pathlib import Path

from tests.test_cancel_held import held_then_refunded
from tests.test_watch_mends import stop, until, watching

WAITS = "may be sent by file 1, which waits for an operator's approval"


def test_a_wait_for_an_approval_is_no_failure_under_watch(tmp_path: Path) -> None:
    cfg, second = held_then_refunded(tmp_path)
    assert second.state == "retrying" and WAITS in second.message, second
    inbox = cfg.parent / "inbox" / "shopify"
    log = cfg.parent / ".bridge" / "bridge.log"
    proc = watching(cfg)
    try:
        assert until(log, WAITS)  # file 2 tried again: it still waits
        inbox.rename(inbox.with_name("shopify.away"))  # a real failure of the flow
        assert until(log, "ordini: the source folder")
        inbox.with_name("shopify.away").rename(inbox)
        assert until(log, "flow ordini works again", 30)
    finally:
        output = stop(proc)
    waits = [line for line in output.splitlines() if WAITS in line]
    assert waits, output
    assert not [line for line in waits if " ERROR " in line], waits
    assert output.count("flow ordini works again") == 1, output
    gone, back = output.index("ordini: the source folder"), output.index("ordini works again")
    assert gone < back, output
