"""Where batch inputs and outputs live: local paths or fsspec URLs (``s3://bucket/prefix``,
``file:///data``, any protocol fsspec knows).

Every location is a string: a local path or a URL. Remote file systems come from
:func:`fsspec.core.url_to_fs`, so credentials and endpoints come from the usual places
(``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_ENDPOINT_URL_S3`` or
``~/.aws/config`` for s3fs, ``FSSPEC_<PROTOCOL>_<OPTION>`` variables for any fsspec option).

Writes are whole-object: :func:`publish` moves a finished local file into place with one
rename (local) or one PUT (remote; S3 shows a multipart upload only once it completes), so
nobody ever sees half a file. :func:`create_exclusive` and ``publish(..., exclusive=True)``
fail when the target exists (``O_EXCL`` / ``link`` locally, ``If-None-Match: *`` on S3): the
base of the claims that keep two runs from writing one output.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import posixpath
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from audiomanip.errors import DependencyError, InputNotFoundError, OutputError

#: Bytes read at a time when hashing or copying.
CHUNK_BYTES = 1 << 20


def is_url(location: str | os.PathLike) -> bool:
    """True for ``proto://...`` strings (``file://`` included); False for plain paths."""
    return "://" in str(location)


def _fs(location: str):
    """``(filesystem, fs_path)`` of a URL; DependencyError when its protocol's package is missing."""
    import fsspec.core

    try:
        return fsspec.core.url_to_fs(location)
    except ImportError as exc:
        raise DependencyError(
            f"cannot open {location}: {exc} (install it with: pip install 'audiomanip[cluster]')"
        ) from None
    except ValueError as exc:
        raise InputNotFoundError(f"cannot open {location}: {exc}") from None


def is_local(location: str | os.PathLike) -> bool:
    """True for plain paths and ``file://`` URLs."""
    return not is_url(location) or str(location).startswith(("file://", "local://"))


def local_path(location: str | os.PathLike) -> Path:
    """The local Path of a plain path or ``file://`` URL."""
    text = str(location)
    if is_url(text):
        return Path(_fs(text)[1])
    return Path(text)


def join(base: str, *parts: str) -> str:
    """``base/part/...`` for paths and URLs alike (URLs use ``/`` and are normalised, ``..`` resolved)."""
    if not is_url(base):
        return str(Path(base, *parts))
    proto, rest = base.split("://", 1)
    joined = posixpath.normpath(posixpath.join(rest, *parts))
    return f"{proto}://{joined}"


def parent(location: str) -> str:
    if not is_url(location):
        return str(Path(location).parent)
    proto, rest = location.split("://", 1)
    return f"{proto}://{posixpath.dirname(rest.rstrip('/'))}"


def name(location: str) -> str:
    return posixpath.basename(str(location).rstrip("/")) if is_url(location) else Path(location).name


def identity(location: str) -> str:
    """A canonical form for comparing locations: the resolved path, or the normalised URL."""
    if is_local(location):
        return str(local_path(location).resolve())
    proto, rest = str(location).split("://", 1)
    return f"{proto}://{posixpath.normpath(rest)}"


def exists(location: str) -> bool:
    if is_local(location):
        return local_path(location).exists()
    fs, path = _fs(location)
    return fs.exists(path)


def isdir(location: str) -> bool:
    if is_local(location):
        return local_path(location).is_dir()
    fs, path = _fs(location)
    return fs.isdir(path)


def read_bytes(location: str) -> bytes | None:
    """The whole content, or None when there is no such file (locally: no regular file; a FIFO
    or device is never read)."""
    try:
        if is_local(location):
            path = local_path(location)
            return path.read_bytes() if path.is_file() else None
        fs, path = _fs(location)
        return fs.cat_file(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def sha256(location: str) -> str:
    """Hex SHA-256 of a file's content (streamed). InputNotFoundError when it is missing."""
    digest = hashlib.sha256()
    try:
        if is_local(location):
            fh = local_path(location).open("rb")
        else:
            fs, path = _fs(location)
            fh = fs.open(path, "rb")
        with fh:
            while block := fh.read(CHUNK_BYTES):
                digest.update(block)
    except (FileNotFoundError, IsADirectoryError):
        raise InputNotFoundError(f"input file not found: {location}") from None
    return digest.hexdigest()


@contextlib.contextmanager
def local_copy(location: str, *, keep_name: bool = True) -> Iterator[Path]:
    """A local file holding ``location``'s content: the file itself when it is local, else a
    temporary download (same suffix, removed afterwards). InputNotFoundError when missing."""
    if is_local(location):
        yield local_path(location)
        return
    fs, path = _fs(location)
    suffix = Path(name(location)).suffix if keep_name else ""
    fd, tmp = tempfile.mkstemp(prefix="audiomanip-in-", suffix=suffix)
    os.close(fd)
    try:
        try:
            fs.get_file(path, tmp)
        except FileNotFoundError:
            raise InputNotFoundError(f"input file not found: {location}") from None
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def list_files(
    root: str, *, pattern: str | None, suffixes: Sequence[str], recursive: bool, exclude: Sequence[str] = ()
) -> list[str]:
    """URLs of the files under a remote ``root`` (sorted), matched like
    :func:`audiomanip.batch.engine.find_inputs`: by ``pattern`` or by suffix, hidden names skipped."""
    fs, base = _fs(root)
    if not fs.isdir(base):
        raise InputNotFoundError(f"input folder not found: {root}")
    proto = root.split("://", 1)[0]
    excluded = [identity(e).rstrip("/") + "/" for e in exclude]
    found = fs.find(base, maxdepth=None if recursive else 1)
    out = []
    for path in found:
        rel = posixpath.relpath(path, base.rstrip("/"))
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        fname = posixpath.basename(path)
        if not (fnmatch.fnmatch(fname, pattern) if pattern else Path(fname).suffix.lower() in suffixes):
            continue
        url = f"{proto}://{path}"
        if any(identity(url).startswith(e) for e in excluded):
            continue
        out.append(url)
    return sorted(out)


def create_exclusive(location: str, data: bytes) -> bool:
    """Create ``location`` holding ``data`` only if it does not exist; False when it does.
    OutputError when it cannot be written."""
    try:
        if is_local(location):
            path = local_path(location)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("xb") as fh:
                fh.write(data)
        else:
            fs, path = _fs(location)
            fs.pipe_file(path, data, mode="create")
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise OutputError(f"cannot write {location}: {exc.strerror or exc}") from None


def publish(local_file: Path, location: str, *, exclusive: bool) -> None:
    """Move the finished ``local_file`` to ``location`` in one step.

    Local: ``local_file`` must be on the same file system (a temporary file beside the target,
    :mod:`audiomanip.tempfiles`); it is renamed into place (``exclusive``: hard-linked, failing
    if the target exists) and is gone afterwards; only regular files are ever replaced
    (:mod:`audiomanip.destination`). Remote: one PUT (``exclusive``: ``If-None-Match: *``);
    ``local_file`` is left for the caller to remove. FileExistsError when ``exclusive`` and
    the target appeared meanwhile; OutputError when the write fails (nothing is then visible).
    """
    try:
        if is_local(location):
            from audiomanip.destination import check_destination, replace_into

            target = local_path(location)
            if exclusive:
                check_destination(target, overwrite=False)  # FileExistsError below if it appears
                os.link(local_file, target)
                os.unlink(local_file)
            else:
                replace_into(local_file, target)  # never over a device, FIFO, socket or folder
        else:
            fs, path = _fs(location)
            fs.put_file(str(local_file), path, mode="create" if exclusive else "overwrite")
    except FileExistsError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {location}: {exc.strerror or exc}") from None


def write_bytes(location: str, data: bytes) -> None:
    """Replace ``location`` with ``data`` in one step (temporary file and rename locally, one PUT
    remotely). OutputError on failure."""
    if is_local(location):
        from audiomanip.destination import write_atomic  # regular files only

        make_dirs(str(local_path(location).parent))
        write_atomic(local_path(location), data, overwrite=True)
        return
    try:
        fs, path = _fs(location)
        fs.pipe_file(path, data)
    except OSError as exc:
        raise OutputError(f"cannot write {location}: {exc.strerror or exc}") from None


def delete(location: str) -> None:
    """Remove a file; nothing when it is already gone."""
    try:
        if is_local(location):
            local_path(location).unlink(missing_ok=True)
        else:
            fs, path = _fs(location)
            fs.rm_file(path)
    except FileNotFoundError:
        pass


def make_dirs(location: str) -> None:
    """Create a local folder (remote prefixes need none). OutputError when impossible."""
    if is_local(location):
        try:
            local_path(location).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create folder {location}: {exc.strerror or exc}") from None
