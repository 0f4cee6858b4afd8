"""Where a writer may put a file: the one check every writer goes through.

The rule (README, "Where outputs may go"): audiomanip writes only regular files. A destination
must be absent, or a regular file that ``overwrite`` allows to be replaced; a device node
(/dev/null, a disk), a FIFO, a socket or a folder is refused with :class:`OutputError` and left
untouched, with or without ``--overwrite``. A symbolic link counts as what it points to (the
link itself is what a rename replaces). Writers create a temporary file beside the destination
and rename it into place (:func:`replace_into`), which checks the destination again just before
the rename, so nothing that is not a regular file is ever renamed over.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from audiomanip.errors import OutputError

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it exists but is not a regular file ("a FIFO (named pipe)", "a
    character device" …); None when it is a regular file or does not exist."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {exc.strerror or exc}") from None
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_destination(path: str | os.PathLike, *, overwrite: bool) -> None:
    """Raise OutputError unless a writer may create ``path`` (absent) or replace it (a regular
    file, with ``overwrite``). Device nodes, FIFOs, sockets and folders are always refused."""
    kind = file_kind(path)
    if kind is not None:
        raise OutputError(
            f"refusing to write '{path}': it is {kind}, not a regular file (audiomanip writes only regular files)"
        )
    if not overwrite and os.path.lexists(path):
        raise OutputError(f"output '{path}' already exists (use --overwrite to replace it)")


def replace_into(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Rename the finished temporary file ``tmp`` onto ``path``, after checking once more that
    ``path`` is absent or a regular file (it may have changed while the writer worked)."""
    check_destination(path, overwrite=True)
    os.replace(tmp, path)


def _write_all(tmp: Path, data: bytes) -> None:
    """Write ``data`` into the (fresh, empty) temporary file ``tmp`` and flush it to disk."""
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_atomic(path: str | os.PathLike, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file of this process's own
    (:func:`audiomanip.tempfiles.replacing`) renamed by :func:`replace_into`; OutputError on any
    failure, and no temporary file is left."""
    from audiomanip import tempfiles
    from audiomanip.audio_io.writing import _os_error_message

    path = Path(path)
    check_destination(path, overwrite=overwrite)
    try:
        with tempfiles.replacing(path) as tmp:
            _write_all(tmp, data)
    except OSError as exc:
        raise OutputError(_os_error_message(path, exc)) from None
    return path
