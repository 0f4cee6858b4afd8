"""What a batch output was made from, who is making it, and the folder's report.

Beside every output ``<dir>/<name>`` a batch keeps two hidden objects (on any storage of
:mod:`audiomanip.batch.storage`):

* the **record** ``<dir>/.<name>.audiomanip.json``: the input's SHA-256, the preset, the
  options that change the audio, and a fingerprint of the output written (SHA-256 locally;
  size and ETag remotely). A re-run skips an output only when its record matches what it
  would make now (*current*); a record that differs (changed input, preset or options) means
  the output is redone (*stale*); an output without a matching record was not made by a batch
  (*foreign*) and is replaced only with ``--overwrite``.
* the **claim** ``<dir>/.<name>.audiomanip.claim``, created exclusively (``O_EXCL`` locally,
  ``If-None-Match: *`` on S3) before a file is rendered and removed once its output and record
  are published. A second run meeting a live claim of another run does not write that file.
  A claim left by a run that died is taken over when it is older than the claim TTL or, on
  the same host, when its process is gone; a retry within the same run (its node died) takes
  its own claim over at once.

Order of a job: claim → render into a part file → publish the output in one step → write the
record → release the claim. A death at any point leaves either no output, or an output with
the claim still present (redone by the next run), never a partial output.

The folder's ``report.json`` is merged under a lock (``filelock`` locally, an exclusive lock
object remotely), so two batches writing into one folder both keep their files' entries.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from audiomanip.batch import storage
from audiomanip.errors import OutputError
from audiomanip.batch.worker_pool import process_alive

RECORD_SCHEMA = "audiomanip.batch.engine-record/1"
RECORD_SUFFIX = ".audiomanip.json"
CLAIM_SUFFIX = ".audiomanip.claim"
#: Seconds after which another run's claim counts as abandoned (a live claim lasts one file).
CLAIM_TTL_S = 3600.0
#: Seconds to wait for the report lock before giving up.
REPORT_LOCK_TIMEOUT_S = 120.0
REPORT_LOCK_NAME = ".report.json.lock"


def is_bookkeeping(name: str) -> bool:
    """True for the hidden files a batch keeps in an output folder on purpose (records, the
    report lock, and a claim left by a run stopped between publishing an output and recording
    it, which tells the next run to redo that output), as opposed to leftovers."""
    name = str(name).rsplit("/", 1)[-1]
    return name.startswith(".") and (name.endswith((RECORD_SUFFIX, CLAIM_SUFFIX)) or name == REPORT_LOCK_NAME)


def _hidden(out_location: str, suffix: str) -> str:
    return storage.join(storage.parent(out_location), f".{storage.name(out_location)}{suffix}")


def record_location(out_location: str) -> str:
    return _hidden(out_location, RECORD_SUFFIX)


def claim_location(out_location: str) -> str:
    return _hidden(out_location, CLAIM_SUFFIX)


def _canonical(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples → lists), so records compare equal."""
    return json.loads(json.dumps(value))


def output_fingerprint(location: str) -> str | None:
    """What identifies an output's content cheaply: ``sha256:…`` locally, ``etag:…``/``size:…``
    remotely; None when there is no such file."""
    if storage.is_local(location):
        if not storage.local_path(location).is_file():
            return None
        return "sha256:" + storage.sha256(location)
    fs, path = storage._fs(location)
    try:
        fs.invalidate_cache(path)
        info = fs.info(path)
    except FileNotFoundError:
        return None
    etag = info.get("ETag") or info.get("etag")
    return f"etag:{str(etag).strip(chr(34))}" if etag else f"size:{info.get('size')}"


@dataclass(frozen=True)
class Wanted:
    """What an output is to be made from."""

    input_sha256: str
    preset: dict[str, Any]
    options: dict[str, Any]

    def matches(self, record: dict[str, Any]) -> bool:
        return (
            record.get("input_sha256") == self.input_sha256
            and record.get("preset") == _canonical(self.preset)
            and record.get("options") == _canonical(self.options)
        )


def read_record(out_location: str) -> dict[str, Any] | None:
    raw = storage.read_bytes(record_location(out_location))
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get("schema") == RECORD_SCHEMA else None


def output_state(out_location: str, wanted: Wanted) -> str:
    """``"absent"`` (no output), ``"current"`` (made from exactly this), ``"stale"`` (made by a
    batch from something else, or left by a run that died before recording it) or
    ``"foreign"`` (an output no batch record accounts for)."""
    fingerprint = output_fingerprint(out_location)
    if fingerprint is None:
        return "absent"
    record = read_record(out_location)
    if record is not None and record.get("output_fingerprint") == fingerprint:
        return "current" if wanted.matches(record) else "stale"
    if storage.exists(claim_location(out_location)):
        return "stale"  # published by a run that died before writing its record
    return "foreign"


def write_record(out_location: str, in_location: str, wanted: Wanted, run_id: str) -> None:
    record = {
        "schema": RECORD_SCHEMA,
        "input": in_location,
        "input_sha256": wanted.input_sha256,
        "preset": wanted.preset,
        "options": wanted.options,
        "output": out_location,
        "output_fingerprint": output_fingerprint(out_location),
        "run": run_id,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    storage.write_bytes(record_location(out_location), json.dumps(record, indent=1).encode())


# ------------------------------------------------------------------ claims
class ClaimedElsewhere(OutputError):
    """Another live run is making this output."""


def _abandoned(claim: dict[str, Any], run_id: str, ttl_s: float) -> bool:
    if claim.get("run") == run_id:
        return True  # our own run's earlier attempt (its worker or node died)
    if time.time() - float(claim.get("time", 0)) > ttl_s:
        return True
    return claim.get("host") == socket.gethostname() and not process_alive(int(claim.get("pid", 0)))


@contextlib.contextmanager
def claim(out_location: str, run_id: str, *, ttl_s: float = CLAIM_TTL_S) -> Iterator[dict[str, Any]]:
    """Hold the claim on an output while the body runs; released afterwards (if it is still
    this one's, see :func:`still_held`) unless the body set ``held["keep"]`` (an output
    published but not yet recorded: the claim tells the next run it is ours).
    ``held["took_over"]`` is True when an abandoned claim was taken over (its holder may have
    left a temporary file). ClaimedElsewhere when another live run holds it."""
    where = claim_location(out_location)
    mine = json.dumps(
        {"run": run_id, "host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
    ).encode()
    took_over = False
    for _ in range(3):
        if storage.create_exclusive(where, mine):
            break
        raw = storage.read_bytes(where)
        try:
            held = json.loads(raw) if raw is not None else None
        except ValueError:
            held = {}
        if held is None:
            continue  # released meanwhile: try again
        if not _abandoned(held, run_id, ttl_s):
            since = _dt.datetime.fromtimestamp(float(held.get("time", 0)), _dt.timezone.utc)
            raise ClaimedElsewhere(
                f"{out_location} is being made by another batch run ({held.get('run')} on "
                f"{held.get('host')}, since {since:%H:%M:%S} UTC); not written twice — re-run once it ends"
            )
        storage.delete(where)
        took_over = True
    else:
        raise ClaimedElsewhere(f"could not claim {out_location}: another run keeps taking it")
    held: dict[str, Any] = {"took_over": took_over, "keep": False, "token": mine}
    try:
        yield held
    finally:
        if not held["keep"] and still_held(out_location, held):
            storage.delete(where)


def still_held(out_location: str, held: dict[str, Any]) -> bool:
    """True while the claim that :func:`claim` took is still in place. Two runs that judge one
    abandoned claim at the same instant both delete it and create their own, and the later
    delete removes the earlier run's new claim: that run learns here, before it publishes, that
    the output is no longer its to write."""
    return storage.read_bytes(claim_location(out_location)) == held["token"]


def release(out_location: str, run_id: str) -> None:
    """Remove the claim on an output if ``run_id`` holds it (a run giving up on a job whose
    worker it lost)."""
    raw = storage.read_bytes(claim_location(out_location))
    try:
        held = json.loads(raw) if raw is not None else None
    except ValueError:
        return
    if isinstance(held, dict) and held.get("run") == run_id:
        storage.delete(claim_location(out_location))


# ------------------------------------------------------------------ report.json
@contextlib.contextmanager
def folder_lock(output_dir: str, *, timeout_s: float = REPORT_LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive use of ``output_dir``'s report: filelock locally, a lock object remotely (an
    abandoned one is taken over after ``timeout_s``)."""
    where = storage.join(output_dir, REPORT_LOCK_NAME)
    if storage.is_local(output_dir):
        import filelock

        storage.make_dirs(output_dir)
        try:
            with filelock.FileLock(str(storage.local_path(where)), timeout=timeout_s):
                yield
        except filelock.Timeout:
            raise OutputError(f"{output_dir} stays locked by another batch (lock {where})") from None
        return
    deadline = time.monotonic() + timeout_s
    token = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}).encode()
    while not storage.create_exclusive(where, token):
        if time.monotonic() > deadline:
            storage.delete(where)  # abandoned by a run that died holding it
            deadline = time.monotonic() + timeout_s
        time.sleep(0.2)
    try:
        yield
    finally:
        storage.delete(where)


def save_report(report_location: str, report: dict[str, Any], statuses: tuple[str, ...]) -> dict[str, Any]:
    """Write ``report`` merged with the report already there: entries for other outputs are
    kept, this run's replace theirs; counts are recomputed. Returns the merged report."""
    output_dir = storage.parent(report_location)
    if storage.is_local(report_location):
        from audiomanip.destination import check_destination

        check_destination(storage.local_path(report_location), overwrite=True)  # regular files only
    with folder_lock(output_dir):
        raw = storage.read_bytes(report_location)
        ours = {f["out_path"] for f in report["files"]}
        kept: list[dict[str, Any]] = []
        if raw is not None:
            try:
                previous = json.loads(raw)
                kept = [f for f in previous.get("files", []) if f.get("out_path") not in ours]
            except (ValueError, AttributeError, TypeError):
                kept = []
        files = kept + list(report["files"])
        counts = {s: 0 for s in statuses}
        for f in files:
            if f.get("status") in counts:
                counts[f["status"]] += 1
        merged = {**report, "counts": counts, "files": files}
        # backslashreplace: file names that are not valid UTF-8 become JSON's \udcXX escapes
        text = json.dumps(merged, indent=2, ensure_ascii=False) + "\n"
        storage.write_bytes(report_location, text.encode("utf-8", errors="backslashreplace"))
    return merged
