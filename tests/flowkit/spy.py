"""A transport that a test passes in (``run_pass(connect=...)``): it hands every call to the
real one, and lets the test act at a chosen call: replace a file, kill a server, fail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bridge.config import Config
from bridge.transport import Entry, Transport, connect

#: Called before each call: (connection name, operation, its number in the pass, its args).
Hook = Callable[[str, str, int, tuple[object, ...]], None]


class Spy:
    def __init__(self, name: str, inner: Transport, hook: Hook, count: list[int],
                 log: list[tuple[str, str, tuple[object, ...]]]) -> None:
        self.name, self.inner, self.hook, self.count, self.log = name, inner, hook, count, log

    def _before(self, op: str, *args: object) -> None:
        self.count[0] += 1
        self.hook(self.name, op, self.count[0], args)
        self.log.append((self.name, op, args))

    def list(self, folder: str, folders: bool = False) -> list[Entry]:
        self._before("list", folder)
        return self.inner.list(folder, folders)

    def is_folder(self, folder: str) -> bool:
        self._before("is_folder", folder)
        return self.inner.is_folder(folder)

    def stat(self, folder: str, name: str) -> Entry | None:
        self._before("stat", folder, name)
        return self.inner.stat(folder, name)

    def download(self, folder: str, name: str, dest: Path, expect: Entry | None = None
                 ) -> None:
        self._before("download", folder, name)
        self.inner.download(folder, name, dest, expect)

    def upload(self, src: Path | bytes, folder: str, name: str, mode: int | None = None, *,
               fence: Callable[[], None] | None = None, durable: bool = True) -> None:
        self._before("upload", folder, name)
        self.inner.upload(src, folder, name, mode, fence=fence, durable=durable)

    def move(self, folder: str, name: str, to_folder: str, to_name: str) -> None:
        self._before("move", folder, name, to_folder, to_name)
        self.inner.move(folder, name, to_folder, to_name)

    def delete(self, folder: str, name: str) -> None:
        self._before("delete", folder, name)
        self.inner.delete(folder, name)

    def close(self) -> None:
        self.inner.close()


class Spying:
    """``connect`` for run_pass: every connection wrapped, one call counter for the pass."""

    def __init__(self, hook: Hook) -> None:
        self.hook = hook
        self.count = [0]
        self.log: list[tuple[str, str, tuple[object, ...]]] = []

    def __call__(self, cfg: Config, name: str) -> Transport:
        return Spy(name, connect(cfg, name), self.hook, self.count, self.log)
