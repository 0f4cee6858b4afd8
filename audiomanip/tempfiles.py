"""Temporary files that belong to the process that made them.

Every temporary or intermediate file the library writes (an atomic writer's ``.partial`` file,
the float WAV that loudness matching renders first, a text file on its way to its name) gets a
name of its own, made here: hidden, in the destination's folder, carrying the writer's process
id and a random part, ``.<name>.<pid>.<12 hex digits>.<kind>``, and created exclusively
(``O_CREAT | O_EXCL``), so it can never be somebody else's file, and two jobs writing near one
destination never share one.

A name is registered *before* its file is created and leaves the registry once the file is
renamed onto its destination (:func:`release`) or removed (:func:`discard`); so a process being
stopped can remove whatever its writers could not (:func:`remove_temporary_files`), and a
parent whose worker died can remove the files of that worker alone (:func:`remove_partial_files`).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

from audiomanip.errors import OutputError

#: Temporary files of this process that are not yet renamed or removed.
_LIVE: set[Path] = set()
if hasattr(os, "register_at_fork"):  # a forked child (a batch worker) never owns its parent's files
    os.register_at_fork(after_in_child=_LIVE.clear)

_NAME = re.compile(r"\.(?P<base>.+)\.(?P<pid>\d+)\.[0-9a-f]{12}\.(?P<kind>partial|scratch\.[a-z0-9]+)")


def create(path: str | os.PathLike, kind: str = "partial") -> Path:
    """Create a fresh empty temporary file for ``path`` (beside it) and return its name.

    ``kind`` ends the name: ``"partial"`` for a file that will be renamed onto ``path``,
    ``"scratch.wav"`` (any ``scratch.<ext>``) for an intermediate file read back and removed.
    OSError when the folder cannot take it.
    """
    path = Path(path)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.{kind}"
        _LIVE.add(tmp)  # in charge of the name before the file exists
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # somebody else's file: not ours to remove
            _LIVE.discard(tmp)
            continue
        except BaseException:
            discard(tmp)
            raise
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name beside {path}")  # pragma: no cover


def release(tmp: Path) -> None:
    """``tmp`` was renamed onto its destination: it is no longer a temporary file."""
    _LIVE.discard(tmp)


def discard(tmp: Path) -> None:
    """Remove the temporary file ``tmp`` (made by :func:`create`; gone already is fine)."""
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    _LIVE.discard(tmp)


@contextlib.contextmanager
def scratch_file(path: str | os.PathLike, suffix: str = ".wav") -> Iterator[Path]:
    """An intermediate file beside ``path`` (``.<name>.<pid>.<random>.scratch<suffix>``), empty
    and exclusively this caller's, removed when the block ends however it ends. OutputError
    when the folder cannot take it."""
    try:
        tmp = create(path, kind=f"scratch{suffix}")
    except OSError as exc:
        raise OutputError(f"cannot write a temporary file beside '{path}': {exc.strerror or exc}") from None
    try:
        yield tmp
    finally:
        discard(tmp)


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Write ``path`` atomically: the block writes the yielded fresh temporary file, which is
    renamed onto ``path`` when the block succeeds and removed when it fails (the exception
    propagates; ``path`` is then untouched). OSError when the folder cannot take the file;
    OutputError when ``path`` is not a regular file (:func:`audiomanip.destination.replace_into`)."""
    from audiomanip.destination import replace_into

    path = Path(path)
    tmp = create(path)
    try:
        yield tmp
        replace_into(tmp, path)  # never over a device, FIFO, socket or folder
        release(tmp)
    except BaseException:
        discard(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`replacing`) and durably: the bytes are
    on disk (fsync) before the rename makes them visible."""
    with replacing(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_text(path: str | os.PathLike, text: str, *, errors: str = "strict") -> None:
    """Write ``text`` (UTF-8, ending with a newline) to ``path`` atomically (see :func:`replacing`)."""
    with replacing(path) as tmp:
        tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8", errors=errors)


def remove_temporary_files() -> int:
    """Remove every temporary file of this process not yet renamed or removed (for a process
    that is being stopped); returns how many existed."""
    removed = 0
    for tmp in list(_LIVE):
        _LIVE.discard(tmp)
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def owner_pid(name: str, target: str) -> int | None:
    """The process id in ``name`` when it is a temporary file made for the file named ``target``
    (or a temporary file of such a file: the atomic write of a scratch file); else None."""
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    if m["base"] == target:
        return int(m["pid"])
    return owner_pid(m["base"], target) if m["base"].startswith(".") else None


def remove_partial_files(path: str | os.PathLike, pids: set[int] | None = None) -> int:
    """Remove the temporary files made for ``path`` by the processes ``pids`` (by any process
    when None), for a caller that knows those processes are gone (a batch whose worker died);
    returns how many there were. Other files are never touched."""
    path = Path(path)
    try:
        names = os.listdir(path.parent)
    except OSError:
        return 0
    removed = 0
    for name in names:
        pid = owner_pid(name, path.name)
        if pid is not None and (pids is None or pid in pids):
            try:
                (path.parent / name).unlink()
                removed += 1
            except OSError:
                pass
    return removed
