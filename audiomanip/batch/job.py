"""One batch job, start to finish: the function every engine's worker runs (the local process
pool and the Ray actors alike).

Inputs and outputs are local paths or fsspec URLs (:mod:`audiomanip.batch.storage`). A remote
input is downloaded to a temporary file; the output is rendered into a part file (beside a
local output, in the temporary folder for a remote one) and published in one step, under the
output's claim, followed by its record (:mod:`audiomanip.batch.manifest`). Inputs are only read.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiomanip.batch import manifest, storage
from audiomanip.errors import AudiomanipError, InputNotFoundError, OutputError
from audiomanip.params import Preset, PresetError

if TYPE_CHECKING:
    from audiomanip.batch.engine import BatchJob, BatchOptions, JobOutcome

#: The options that change an output's audio, recorded in its manifest record.
AUDIO_OPTIONS = ("match_loudness", "peak_safety", "audio_length_s")


class _CommitWindow:
    """Publishing an output and writing its record belong together: a stop that a worker is
    asked for in between (SIGTERM from the parent, see :func:`audiomanip.batch.engine._stop_worker`)
    waits until the record is written, so a resumed batch finds every published output with
    its record and skips it. SIGKILL cannot wait; a resume then redoes that output."""

    open = False
    stop_pending = False


def defer_stop() -> bool:
    """Called by a worker's stop handler: True (and the stop is remembered) while an output is
    being published and recorded, False when the worker may stop at once."""
    if _CommitWindow.open:
        _CommitWindow.stop_pending = True
        return True
    return False


@contextlib.contextmanager
def _commit_window() -> Iterator[None]:
    """The span of :class:`_CommitWindow`; a stop that came meanwhile is raised as
    KeyboardInterrupt when it closes without an error."""
    _CommitWindow.open, _CommitWindow.stop_pending = True, False
    try:
        yield
    finally:
        _CommitWindow.open = False
        stop, _CommitWindow.stop_pending = _CommitWindow.stop_pending, False
        if stop:
            raise KeyboardInterrupt  # also in place of an error of the window: the stop comes first


def remove_leftovers(out_location: str, pids: set[int] | None = None) -> None:
    """Remove the temporary files that the processes ``pids`` (any process when None: the
    caller knows none is alive) left for a local output and for its record."""
    if not storage.is_local(out_location):
        return
    from audiomanip import tempfiles

    for location in (out_location, manifest.record_location(out_location)):
        tempfiles.remove_partial_files(storage.local_path(location), pids)


def wanted(job: BatchJob, options: BatchOptions, input_sha256: str) -> manifest.Wanted:
    return manifest.Wanted(
        input_sha256=input_sha256,
        preset=job.preset,
        options={k: getattr(options, k) for k in AUDIO_OPTIONS},
    )


def _outcome(job: BatchJob, status: str, error: str | None = None) -> JobOutcome:
    from audiomanip.batch.engine import JobOutcome

    return JobOutcome(
        in_path=job.in_path,
        out_path=job.out_path,
        label=job.label,
        status=status,
        error=error,
        preset=job.preset,
    )


def _not_ours(job: BatchJob) -> str:
    return (
        f"{job.out_path} exists and was not made by a batch from this input (use --overwrite to replace it)"
    )


def precheck(job: BatchJob, options: BatchOptions) -> JobOutcome | None:
    """The outcome of a job decided without rendering (``skipped`` when its output is current,
    ``failed`` when an unaccounted file is in the way), or None when it must be rendered.
    Cheap for local inputs (one hash); engines call it before handing out work."""
    if options.overwrite or job.preset is None or not storage.is_local(job.in_path):
        return None
    try:
        if not storage.exists(job.out_path):
            return None
        state = manifest.output_state(job.out_path, wanted(job, options, storage.sha256(job.in_path)))
    except AudiomanipError:
        return None  # the worker reports it
    if state == "current":
        return _outcome(job, "skipped")
    if state == "foreign":
        return _outcome(job, "failed", _not_ours(job))
    return None


def run_job(job: BatchJob, options: BatchOptions) -> JobOutcome:
    """Process one job; every user-caused problem becomes a ``failed`` outcome, never an exception."""
    start = time.perf_counter()
    try:
        outcome = _run(job, options)
    except (AudiomanipError, PresetError) as exc:
        outcome = _outcome(job, "failed", " ".join(str(exc).split()))
    except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch
        outcome = _outcome(job, "failed", f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    outcome.seconds = time.perf_counter() - start
    return outcome


def _run(job: BatchJob, options: BatchOptions) -> JobOutcome:
    if job.preset is None:
        raise ValueError(f"no preset for {job.label!r}: the engine did not predict its prompt")
    preset = Preset.from_dict(job.preset)
    if storage.identity(job.in_path) == storage.identity(job.out_path):
        raise OutputError(f"refusing to write over the input file {job.in_path}")
    if storage.is_local(job.in_path) and not storage.local_path(job.in_path).is_file():
        raise InputNotFoundError(f"input file not found: {job.in_path}")
    with storage.local_copy(job.in_path) as local_in:
        try:
            return _render(job, options, preset, local_in)
        except AudiomanipError as exc:
            if str(local_in) == job.in_path:
                raise
            # name the input as the user gave it, not its temporary download
            raise type(exc)(str(exc).replace(str(local_in), job.in_path)) from None


def _render(job: BatchJob, options: BatchOptions, preset: Preset, local_in: Path) -> JobOutcome:
    from audiomanip.processing import process_file

    want = wanted(job, options, storage.sha256(str(local_in)))
    state = manifest.output_state(job.out_path, want)
    if state == "current" and not options.overwrite:
        return _current(job, options)
    if state == "foreign" and not options.overwrite:
        return _outcome(job, "failed", _not_ours(job))
    out_dir = storage.parent(job.out_path)
    storage.make_dirs(out_dir)
    with manifest.claim(job.out_path, options.run_id or f"pid{os.getpid()}") as held, \
            contextlib.ExitStack() as commit:
        if held["took_over"]:
            remove_leftovers(job.out_path)  # left by a worker that died holding this claim
        state = manifest.output_state(job.out_path, want)  # another run may have finished it
        if state == "current" and not options.overwrite:
            return _current(job, options)
        with _part_file(job.out_path) as part:
            result = process_file(
                preset,
                local_in,
                part,
                audio_length_s=options.audio_length_s,
                match_loudness=options.match_loudness,
                peak_safety=options.peak_safety,
                overwrite=True,
                measure_loudness=False,
            )
            if not manifest.still_held(job.out_path, held):
                raise manifest.ClaimedElsewhere(
                    f"{job.out_path} was taken over by another batch run while this one rendered it; "
                    "not written twice"
                )
            commit.enter_context(_commit_window())
            try:
                held["keep"] = True  # from here until the record is written (see manifest.claim)
                if state == "absent" or storage.sha256(job.out_path) != storage.sha256(str(part)):
                    storage.publish(part, job.out_path, exclusive=state == "absent")
                # else: the output already holds exactly these bytes (an attempt of this job that
                # died before its record): not written twice
            except FileExistsError:
                # under our claim, only an earlier attempt of this job (a worker of this run
                # presumed dead whose upload still landed) can have written it: the same
                # render of the same input, kept if its bytes are ours
                if storage.sha256(job.out_path) != storage.sha256(str(part)):
                    held["keep"] = False  # nothing of ours was published
                    raise OutputError(
                        f"{job.out_path} was written by another run meanwhile; left as it is"
                    ) from None
            except OutputError:
                held["keep"] = False  # the write failed: nothing was published
                raise
        manifest.write_record(job.out_path, job.in_path, want, options.run_id)
        held["keep"] = False
        commit.close()  # a stop asked for while publishing takes effect now
    outcome = _outcome(job, "done")
    result_dict: dict[str, Any] = result.to_dict()
    result_dict.update(in_path=job.in_path, out_path=job.out_path)
    outcome.result = result_dict
    return outcome


def _current(job: BatchJob, options: BatchOptions) -> JobOutcome:
    """A current output is ``skipped``, or ``done`` when this very run made it (an attempt whose
    worker died after publishing it)."""
    record = manifest.read_record(job.out_path) or {}
    if options.run_id and record.get("run") == options.run_id:
        manifest.release(job.out_path, options.run_id)  # the claim that attempt could not release
        return _outcome(job, "done")
    return _outcome(job, "skipped")


@contextlib.contextmanager
def _part_file(out_location: str) -> Iterator[Path]:
    """A fresh file to render into, removed afterwards unless it was published: beside a local
    output (a temporary file of :mod:`audiomanip.tempfiles`, so publishing is a rename and an
    interrupted worker's file is swept like any other), in the temporary folder for a remote
    one. Keeps the output's suffix (its format)."""
    suffix = Path(storage.name(out_location)).suffix.lower()
    if storage.is_local(out_location):
        from audiomanip import tempfiles

        with tempfiles.scratch_file(storage.local_path(out_location), suffix=suffix) as tmp:
            yield tmp
        return
    fd, tmp = tempfile.mkstemp(prefix="audiomanip-out-", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)
