"""Small files transformed ahead, in a second process, while this one writes.

A small file spends about half its time in its transform (decoding, steps, encoding: work
on its own bytes) and half in what must stay in order and in this process (claiming,
fetching, planning, writing, archiving). With a second core they overlap: while this
process plans and writes file N, a helper process transforms file N+1, already fetched,
into a folder of its own. The helper writes nothing else and never the ledger; the ledger
questions its steps asked (``dedupe``'s keys, ``delta``'s fingerprints) are asked again
here before its result is used, and an answer that changed means the file is transformed
here, as without a helper. A helper that fails, dies or is slow costs its work only.
Where the helper is the slower half (a flow of many steps), this process transforms the
next file itself while it would wait for the helper's answer (:mod:`ahead_here`).

Started for a flow pass with :data:`AHEAD_FROM` files or more ready, on two cores or more,
unless ``transform_ahead: false``; for files read at once (not over ``chunk_bytes``), of
flows that neither withdraw keys nor leave their files in place (docs/flows.md). On a pass
that checks a flow's configuration first, it is started before that check
(:func:`start_early`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
import subprocess
import sys
from collections import Counter, deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge import faults
from bridge.engine import taking
from bridge.engine.ahead_here import ASKED, Pace, hand_over, meanwhile, read_the_same
from bridge.engine.ahead_serve import room_in
from bridge.engine.claims import Claims, read_at_once
from bridge.engine.context import Outcome
from bridge.errors import LostTurn
from bridge.states import RETRYING

if TYPE_CHECKING:
    from bridge.config import Flow
    from bridge.engine.chunking import Checked
    from bridge.engine.pipeline import Pipeline
    from bridge.ledger import FileRow, Observation
    from bridge.transport import Entry

#: Files of a flow ready in one listing before a helper is worth its start (about half a
#: second of imports, spent while this process takes the first files itself).
AHEAD_FROM = 8
#: Seconds this process waits for the helper's answer on a file before it gives up on the
#: helper and transforms the file itself.
WAIT = 120.0
#: Files handed to the helper and not yet taken back: enough to keep it busy while this
#: process writes, few enough that a stop leaves little done for nothing.
DEPTH = 2
#: Files fetched beyond the next one handed over: one of them is for this process to
#: transform while it would otherwise wait for the helper (``ahead_here``).
AHEAD_HERE = 1
#: The fault points of the tests (:mod:`bridge.faults`), and their names for the helper.
_FAULTS = {"BRIDGE_KILL_AT": "BRIDGE_HELPER_KILL_AT", "BRIDGE_RAISE_AT": "BRIDGE_HELPER_RAISE_AT"}
log = logging.getLogger("bridge.ahead")


def take_all(pipe: Pipeline, name: str, flow: Flow, ready: Sequence[tuple[Entry, Observation]],
             note: Callable[[Outcome | None], Outcome | None],
             should_stop: Callable[[], bool]) -> bool:
    """Every ready file of a flow taken in order, claimed a few at a time (:mod:`claims`);
    with a helper, each small one fetched and handed to it before the file before it is
    planned and written. A file that must wait (``retrying``) stops the flow, as one at a
    time: the files fetched after it wait, fetched, for the next pass, and the claims not
    used are dropped. False if the flow stopped so, or the pass is asked to stop."""
    ahead = helper_for(pipe, flow, len(ready))
    claims = Claims(pipe, name, flow, ready)
    pending: deque[Outcome | tuple[int, str | None]] = deque()

    def settle(got: Outcome | tuple[int, str | None] | None) -> bool:
        """Note the outcome of one file: False once the flow must stop."""
        if isinstance(got, tuple):
            if ahead is not None and ahead.alive:
                meanwhile(pipe, ahead, got[0], flow, pending)
            got = pipe.advance(got[0], truncated=got[1])
            if ahead is not None and ahead.alive:
                hand_over(pipe, ahead, flow, pending)
        o = note(got)
        return o is None or o.state != RETRYING

    def carry() -> bool:
        for at, (entry, obs) in enumerate(ready):
            if should_stop():
                return False
            if ahead is None or not ahead.alive or not read_at_once(flow, entry):
                while pending:
                    if not settle(pending.popleft()):
                        return False
                if not settle(pipe.take(name, flow, entry, obs, claimed=claims.take(at))):
                    return False
                continue
            got = fetch_new(pipe, name, flow, entry, obs, claims.take(at))
            if isinstance(got, tuple) and got[1] is None:
                ahead.send(pipe, got[0], flow)
            pending.append(got if isinstance(got, Outcome) else (got[0].id, got[1]))
            if isinstance(got, Outcome) and got.state == RETRYING:
                break  # the files fetched before it are still carried on, in order
            while len(pending) > AHEAD_HERE + 1:
                if not settle(pending.popleft()):
                    return False
        while pending:
            if not settle(pending.popleft()):
                return False
        return True

    went_on = carry()
    claims.drop_unused()  # not after an error: another worker may carry them on by then
    return went_on


def helper_for(pipe: Pipeline, flow: Flow, files: int) -> Helper | None:
    """The pass's helper (started now if need be), or None where it would not help."""
    if files < AHEAD_FROM or not may_help(pipe, flow):
        return None
    if pipe.ahead is None:
        pipe.ahead = Helper.start(pipe)
    return pipe.ahead if pipe.ahead.alive else None


def may_help(pipe: Pipeline, flow: Flow) -> bool:
    """Whether a helper could transform this flow's small files, however many are ready."""
    return (pipe.cfg.transform_ahead and flow.archive != "leave" and cores_here() >= 2
            and not _withdraws(flow))


def start_early(pipe: Pipeline, flow: Flow) -> None:
    """The pass's helper started before the check of a flow's configuration, which takes
    this process about half a second (pandas' imports, the steps run on empty tables): the
    helper's own imports overlap it. Started whatever the files ready, as they are not
    listed yet: where fewer than :data:`AHEAD_FROM` come, it ends with the pass, idle."""
    if pipe.ahead is None and may_help(pipe, flow):
        pipe.ahead = Helper.start(pipe)


def cores_here() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _withdraws(flow: Flow) -> bool:
    from bridge.engine.gone import gone_step

    return gone_step(list(flow.steps)) is not None


def fetch_new(pipe: Pipeline, name: str, flow: Flow, entry: Entry, obs: Observation,
              claimed: FileRow | None = None) -> Outcome | tuple[FileRow, str | None]:
    """A ready file claimed (unless ``claimed`` already) and fetched into the work area (as
    :meth:`Pipeline.take` does first); its outcome if that is all, else its record and why
    it is cut short."""
    row = claimed or pipe.ledger.claim(name, entry.name, entry.size, entry.mtime,
                                       pipe.run_id, pipe.now.wall)
    faults.point("after-claim")
    try:
        got = taking.fetch(pipe, row, flow, obs)
    except LostTurn:
        raise
    except Exception as exc:  # as Pipeline.advance does
        if pipe.fence is not None:
            pipe.fence()
        return pipe.failed(row, flow, exc)
    if isinstance(got, Outcome):
        return got
    return got.row, got.truncated


class Helper:
    """This process's side of the helper: files handed over, answers taken back in order."""

    def __init__(self, proc: subprocess.Popen[bytes] | None, inbox: Connection | None,
                 outbox: Connection | None) -> None:
        self.proc, self.inbox, self.outbox = proc, inbox, outbox
        self.alive = proc is not None
        self.ready = False
        self.asked: dict[int, Path] = {}  # file id -> the helper's folder for it
        #: Where the ledger's keys stood when each file was handed over (``keys_mark``).
        self.marks: dict[int, tuple[int, int] | None] = {}
        self.answers: dict[int, tuple[Any, ...]] = {}
        self.here: set[int] = set()  # of those, the files this process transformed ahead
        self.pace = Pace()
        #: What became of the files handed over: used, transformed here again because the
        #: ledger had moved on, or because the helper failed on them or was lost.
        self.tally: Counter[str] = Counter()

    @classmethod
    def start(cls, pipe: Pipeline) -> Helper:
        from bridge import ledger as ledgers

        where = pipe.cfg.ledger_location()
        if ledgers.ROUTE is not None:
            where = ledgers.ROUTE(where)
        start = pickle.dumps((pipe.cfg, where, pipe.full, pipe.now),
                             protocol=pickle.HIGHEST_PROTOCOL)
        child_in, parent_out = os.pipe()
        parent_in, child_out = os.pipe()
        if len(start) > room_in(parent_out):  # it would wait for the helper to read it
            for fd in (child_in, parent_out, parent_in, child_out):
                os.close(fd)
            log.info("no helper process: the configuration (%d bytes) is more than its "
                     "pipe holds", len(start))
            return cls(None, None, None)
        # A test's fault points are this process's; the helper's own are named apart.
        env = {k: v for k, v in os.environ.items() if k not in _FAULTS}
        env.update({k: v for k, helper in _FAULTS.items() if (v := os.environ.get(helper))})
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bridge.engine.ahead_serve", str(child_in), str(child_out),
                 str(os.getpid())],
                pass_fds=(child_in, child_out), env=env, stdin=subprocess.DEVNULL)
        except OSError:
            os.close(parent_in)
            os.close(parent_out)
            return cls(None, None, None)  # no helper: every file is transformed here
        finally:
            os.close(child_in)
            os.close(child_out)
        helper = cls(proc, Connection(parent_in, writable=False),
                     Connection(parent_out, readable=False))
        helper._send(start)
        return helper

    def send(self, pipe: Pipeline, row: FileRow, flow: Flow) -> None:
        """Hand a fetched file over, if the helper is up and not too far behind."""
        if not self.alive or len(self.asked) - len(self.here) >= DEPTH or \
                not self._is_ready():
            return
        source = taking.work_copy(pipe, row, flow)
        folder = pipe.work(row.id) / f"ahead-{self.proc.pid if self.proc else 0}"
        mark = pipe.ledger.keys_mark()  # before the helper can ask anything
        if self._put((row, source, folder)):
            self.asked[row.id] = folder
            self.marks[row.id] = mark

    def result(self, pipe: Pipeline, row: FileRow) -> Checked | None:
        """The helper's transform of a file, checked against the ledger as it is now (its
        files are in the helper's folder, removed by :meth:`forget`); None: transform it
        here."""
        if row.id not in self.asked:
            return None
        with self.pace.waiting(row.id in self.answers):
            answer = self._answer(row.id)
        if answer is None or answer[0] != "done":
            self.tally["failed" if answer else "lost"] += 1
            if answer:
                log.info("file %d: the helper could not transform it (%s): done here",
                         row.id, answer[2])
            return None
        _, _, got, asked, read = answer
        checked: Checked = got
        if not read_the_same(pipe, read):
            self.tally["stale"] += 1
            return None  # a reference rewritten since this pass read it
        mark = self.marks.get(row.id)
        for method, args, kwargs, then in asked:
            if method not in ASKED:
                self.tally["stale"] += 1
                return None
            if method in ("sent_keys", "fingerprints") and len(args) >= 2 and \
                    pipe.ledger.keys_unchanged(mark, args[0], args[1]):
                continue  # nothing written since that could change the answer (a file
                # failing, held or approved since changes which keys wait: asked again)
            if getattr(pipe.ledger, method)(*args, **kwargs) != then:
                self.tally["stale"] += 1
                return None  # the ledger moved on since: what the helper made is stale
        self.tally["here" if row.id in self.here else "used"] += 1
        from bridge.engine.tables import load_tracciato

        checked.tracciato = load_tracciato(pipe.cfg, pipe.cfg.flows[row.flow].tracciato)
        return checked

    def forget(self, file_id: int) -> None:
        """The helper's folder of a file removed, once its answer is in (or it is dead)."""
        folder = self.asked.get(file_id)
        if folder is None or (file_id not in self.answers and self.alive):
            return
        del self.asked[file_id]
        self.marks.pop(file_id, None)
        self.answers.pop(file_id, None)
        self.here.discard(file_id)
        with contextlib.suppress(FileNotFoundError):  # made the file's render folder
            try:
                os.rmdir(folder)  # emptied by the answer taken in
            except OSError:
                shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Every answer taken in and its folder removed, then the helper ends."""
        for file_id in list(self.asked):
            self._answer(file_id)
            self.forget(file_id)
        if self.tally:
            log.info("a second process transformed %d file(s) ahead (and this one %d while "
                     "it waited); %d transformed again because the ledger had moved on, %d "
                     "because the helper failed on them, %d because it was lost",
                     self.tally["used"], self.tally["here"], self.tally["stale"],
                     self.tally["failed"], self.tally["lost"])
        for conn in (self.outbox, self.inbox):
            if conn is not None:
                conn.close()
        self.outbox = self.inbox = None
        if self.proc is not None and not self.ready:
            self._lost()  # still starting: it has nothing to do
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.alive = False

    # -- the pipes ----------------------------------------------------------------------

    def _is_ready(self) -> bool:
        if not self.ready and self.inbox is not None:
            with contextlib.suppress(OSError, EOFError):
                if self.inbox.poll(0):
                    self.ready = self._get() == ("ready",)
            if not self.ready and self.proc is not None and self.proc.poll() is not None:
                self._lost()
        return self.ready

    def _answer(self, file_id: int) -> tuple[Any, ...] | None:
        while file_id not in self.answers and self.alive:
            if not self._take_in(WAIT):
                self._lost()  # mute for WAIT seconds: no more work for it
        return self.answers.get(file_id)

    def answered(self, file_id: int) -> bool:
        """Whether the helper's answer on a file is in, taking in what came without
        waiting."""
        while file_id not in self.answers and self.alive and self._take_in(0):
            pass
        return file_id in self.answers

    def _take_in(self, wait: float) -> bool:
        """One answer taken in, if one comes within ``wait`` seconds; a helper that is dead
        or answers what it was not asked is lost."""
        try:
            if self.inbox is None or not self.inbox.poll(wait):
                return False
            got = self._get()
        except (OSError, EOFError):
            got = None
        if isinstance(got, tuple) and len(got) >= 2 and got[1] in self.asked:
            self.answers[got[1]] = got
            return True
        self._lost()  # dead or confused: no more work for it
        return False

    def _get(self) -> Any:
        assert self.inbox is not None
        return pickle.loads(self.inbox.recv_bytes())

    def _put(self, message: object) -> bool:
        return self._send(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def _send(self, data: bytes) -> bool:
        try:
            assert self.outbox is not None
            self.outbox.send_bytes(data)
            return True
        except (OSError, AssertionError):
            self._lost()
            return False

    def _lost(self) -> None:
        if self.alive and self.ready and self.proc is not None:
            log.warning("the helper process %d stopped answering: the files left are "
                        "transformed here", self.proc.pid)
        self.alive = False
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


__all__ = ["AHEAD_FROM", "AHEAD_HERE", "Helper", "fetch_new", "helper_for", "may_help",
           "start_early", "take_all"]
