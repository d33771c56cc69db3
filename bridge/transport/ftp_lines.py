"""What an FTP server says, read: names on the wire, MLSD facts and times, LIST lines, and
what FEAT says it can do (with the commands whose refusal changes nothing).

Names travel on the wire as bytes: the control channel is read and written as latin-1 (which
maps every byte to one character and back), and names are turned to and from UTF-8 here, with
``surrogateescape`` so that a name in another code page still round-trips. Plain functions (but
the last two, which ask the server), tested without a server.
"""

from __future__ import annotations

import calendar
import contextlib
import ftplib
import re
import time

from bridge.transport.base import FOLDER

WIRE = "latin-1"
CHARSET = "utf-8"

# `ls -l` style: mode, links, owner, [group], size, month, day, time-or-year, name.
UNIX_LINE = re.compile(r"^(?P<kind>[-dlbcps])\S*\s+(?:.*?\s)?(?P<size>\d+)\s+"
                       r"(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+"
                       r"(?P<when>\d{1,2}:\d{2}|\d{4})\s(?P<name>.+)$")
# IIS "DOS" style: 01-31-24  10:30AM  <DIR>|size  name
DOS_LINE = re.compile(r"^(?P<date>\d{2}-\d{2}-\d{2,4})\s+(?P<time>\d{1,2}:\d{2}[AaPp][Mm])\s+"
                      r"(?P<size><DIR>|\d+)\s+(?P<name>.+)$")
MONTHS = "janfebmaraprmayjunjulaugsepoctnovdec"


def wire(text: str) -> str:
    return text.encode(CHARSET, "surrogateescape").decode(WIRE)


def unwire(text: str) -> str:
    return text.encode(WIRE).decode(CHARSET, "surrogateescape")


def text_of(exc: BaseException) -> str:
    return unwire(str(exc)) if isinstance(exc, ftplib.Error) else (str(exc) or type(exc).__name__)


def facts(text: str) -> dict[str, str]:
    pairs = (fact.partition("=") for fact in text.split(";"))
    return {key.strip().lower(): value for key, eq, value in pairs if eq}


def mtime(stamp: str) -> float:
    """An MLSD/MDTM time (UTC, ``YYYYMMDDHHMMSS[.fff]``) as a POSIX timestamp; 0 if absent."""
    stamp = stamp.strip()
    if len(stamp) < 14 or not stamp[:14].isdigit():
        return 0.0
    secs = calendar.timegm(time.strptime(stamp[:14], "%Y%m%d%H%M%S"))
    frac = stamp[15:] if stamp[14:15] == "." and stamp[15:].isdigit() else ""
    return secs + (float(f"0.{frac}") if frac else 0.0)


def parse_list_line(line: str) -> tuple[str, int, float] | None:
    """(name, size, rough mtime) of a regular file in a LIST line; None for anything else.

    LIST times are in the server's zone and may lack the year or the seconds: they serve
    only to notice a change, and MDTM replaces them where the server has it."""
    if m := UNIX_LINE.match(line):
        return _unix(m) if m["kind"] == "-" else None
    if m := DOS_LINE.match(line):
        if m["size"] == "<DIR>":
            return None
        try:
            parsed = time.strptime(f"{m['date']} {m['time'].upper()}",
                                   "%m-%d-%y %I:%M%p" if len(m["date"]) == 8
                                   else "%m-%d-%Y %I:%M%p")
        except ValueError:
            return None
        return unwire(m["name"]), int(m["size"]), float(calendar.timegm(parsed))
    return None


#: A LIST line's kinds of entries that are neither files nor folders, as said to a person.
OTHERS = {"l": "a symbolic link", "p": "a FIFO", "s": "a socket", "c": "a device",
          "b": "a device"}


def parse_other_line(line: str, folders: bool = False
                     ) -> tuple[str, int, float, str] | None:
    """(name, size, rough mtime, kind) of a LIST line's link, FIFO, socket or device: told,
    never taken (a link's name without its `` -> target``); of a folder too if ``folders``
    (not ``.`` nor ``..``); None for anything else."""
    if (m := UNIX_LINE.match(line)) and m["kind"] in OTHERS:
        name, size, stamp = _unix(m)
        if m["kind"] == "l":
            name = name.partition(" -> ")[0]
        return name, size, stamp, OTHERS[m["kind"]]
    if folders and m is not None and m["kind"] == "d":
        name, size, stamp = _unix(m)
        return (name, size, stamp, FOLDER) if name not in (".", "..") else None
    return None


def mlsd_kind(fact: str) -> str | None:
    """What an MLSD ``type`` fact says an entry is, as :func:`bridge.transport.base.kind_of`
    does: None for a file, "" for a folder, else its kind (``OS.unix=slink:TARGET``,
    ``OS.unix=fifo``...), to be told, never skipped unsaid."""
    fact = fact.strip().lower()
    if fact == "file":
        return None
    if fact in ("dir", "cdir", "pdir"):
        return ""
    what = fact.removeprefix("os.unix=")
    if what != fact:
        for start, kind in (("slink", "a symbolic link"), ("symlink", "a symbolic link"),
                            ("fifo", "a FIFO"), ("pipe", "a FIFO"), ("socket", "a socket"),
                            ("chr", "a device"), ("blk", "a device")):
            if what.startswith(start):
                return kind
    return "not a regular file"


def _unix(m: re.Match[str]) -> tuple[str, int, float]:
    hour, minute, year = 0, 0, time.gmtime().tm_year
    if ":" in m["when"]:
        hour, minute = map(int, m["when"].split(":"))
    else:
        year = int(m["when"])
    month = max(1, MONTHS.find(m["mon"].lower()) // 3 + 1)
    stamp = calendar.timegm((year, month, int(m["day"]), hour, minute, 0))
    if stamp > time.time() + 86400:  # "Dec 31 10:00" listed in January: last year's
        stamp = calendar.timegm((year - 1, month, int(m["day"]), hour, minute, 0))
    return unwire(m["name"]), int(m["size"]), float(stamp)


def features(ftp: ftplib.FTP) -> set[str]:
    """What the server says it can do (FEAT), upper case."""
    try:
        reply = ftp.sendcmd("FEAT")
    except ftplib.error_perm:
        return set()  # FEAT is RFC 2389; older servers have none of these
    return {line.strip().upper() for line in reply.splitlines()[1:-1] if line.strip()}


def quietly(ftp: ftplib.FTP, cmd: str) -> None:
    """A command whose refusal changes nothing (an option the server may lack)."""
    with contextlib.suppress(ftplib.error_perm):
        ftp.sendcmd(cmd)
