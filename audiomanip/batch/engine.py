"""The batch engine: many files × one or more presets, in a pool of worker processes.

The parent decides every job (input, output, preset as a dict) before any work starts; the
model, when there is one, runs only in the parent, once per distinct prompt. Workers render
with :func:`audiomanip.processing.process_file`, which writes atomically, so an interrupted
batch leaves no partial outputs and a re-run skips the files already written.

Progress is reported through a callback receiving dicts with the keys ``done`` (jobs
finished, any status), ``total``, ``status`` (of the job just finished), ``file`` (its input
path) and ``counts`` (``{"done": n, "skipped": n, "failed": n}``).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import fnmatch
import os
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from audiomanip.audio_io import AUDIO_SUFFIXES
from audiomanip.errors import InputNotFoundError, PromptError, UsageError
from audiomanip.params import Preset

STATUSES = ("done", "skipped", "failed")
REPORT_NAME = "report.json"


@dataclass
class BatchJob:
    """One file with one preset. ``label`` names the preset (prompt, preset name or file);
    ``preset`` is None when the worker predicts it from the prompt ``label`` (see
    :class:`audiomanip.batch.plan.PromptModel`)."""

    in_path: str
    out_path: str
    label: str
    preset: dict[str, Any] | None


@dataclass
class JobOutcome:
    """What became of one job; ``error`` is a one-line message for failures."""

    in_path: str
    out_path: str
    label: str
    status: str
    error: str | None = None
    seconds: float = 0.0
    preset: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    #: Times the job was started; > 1 when a worker died under it (see ``worker_deaths``).
    attempts: int = 1
    #: Why each worker that held this job died, e.g. "killed by signal 9 (SIGKILL)".
    worker_deaths: list[str] = field(default_factory=list)


@dataclass
class BatchOptions:
    """Settings shared by every job of a batch."""

    overwrite: bool = False
    match_loudness: bool = False
    peak_safety: bool = True
    audio_length_s: float | None = None
    #: Identifies this run in output claims (see audiomanip.batch.manifest); the same across retries.
    run_id: str = ""


# ------------------------------------------------------------------ discovery and planning
def check_input_dir(root: str | Path) -> Path | str:
    """``root`` as a Path (a URL stays a string, see audiomanip.batch.storage); InputNotFoundError
    when it is missing or not a folder."""
    from audiomanip.batch import storage

    if storage.is_url(root):
        if not storage.isdir(str(root)):
            raise InputNotFoundError(f"input folder not found: {root}")
        return str(root)
    root = Path(root)
    if not root.exists():
        raise InputNotFoundError(f"input folder not found: {root}")
    if not root.is_dir():
        raise InputNotFoundError(
            f"expected a folder of audio files, got a file: {root} (use `audiomanip apply`)"
        )
    return root


def find_inputs(
    root: Path, *, pattern: str | None = None, recursive: bool = False, exclude: Sequence[Path] = ()
) -> list[Path]:
    """Audio files under ``root`` in sorted order.

    ``pattern`` is a shell pattern matched against the file name (``"*.wav"``); without one,
    files with an audio suffix (:data:`AUDIO_SUFFIXES`) are taken. Hidden files and folders
    (names starting with ``.``) and anything under ``exclude`` (e.g. the output folder) are
    skipped. InputNotFoundError when ``root`` is not a folder.
    """
    root = check_input_dir(root)
    if isinstance(root, str):
        from audiomanip.batch import storage

        return storage.list_files(  # type: ignore[return-value]
            root, pattern=pattern, suffixes=AUDIO_SUFFIXES, recursive=recursive, exclude=[str(e) for e in exclude]
        )
    from audiomanip.batch import storage

    excluded = [storage.local_path(p).resolve() for p in exclude if storage.is_local(p)]
    found: list[Path] = []
    walker: Iterable[tuple[str, list[str], list[str]]]
    if recursive:
        walker = os.walk(root)
    else:
        walker = [(str(root), [], [n for n in os.listdir(root) if (root / n).is_file()])]
    for dirpath, dirnames, filenames in walker:
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and not _is_under((here / d).resolve(), excluded)
        )
        for name in filenames:
            if name.startswith("."):
                continue
            matches = (
                fnmatch.fnmatch(name, pattern) if pattern else Path(name).suffix.lower() in AUDIO_SUFFIXES
            )
            if matches:
                found.append(here / name)
    return sorted(found)


def _is_under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def read_plan(path: Path | str, root: Path | str) -> list[tuple[Path | str, str]]:
    """Rows ``(file, prompt)`` of a CSV plan with a header ``file,prompt``.

    ``path`` and ``root`` may be URLs (audiomanip.batch.storage). Relative file paths are resolved
    against ``root``. PromptError for a missing file, missing columns, an empty prompt or no
    rows at all.
    """
    from audiomanip.batch import storage

    if storage.is_url(path):
        with storage.local_copy(str(path)) as local:
            return [(f if storage.is_url(f) else _plan_path(str(f), root), p)
                    for f, p in _read_plan_file(local, str(path), root)]
    return _read_plan_file(Path(path), str(path), root)


def _plan_path(file_text: str, root: Path | str) -> Path | str:
    from audiomanip.batch import storage

    if storage.is_url(file_text):
        return file_text
    if storage.is_url(root):
        return storage.join(str(root), file_text)
    p = Path(file_text)
    return p if p.is_absolute() else Path(root) / p


def _read_plan_file(path: Path, shown: str, root: Path | str) -> list[tuple[Path | str, str]]:
    if not path.exists() or path.is_dir():  # pipes such as <(cat ...) are fine
        raise PromptError(f"plan file not found: {shown}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip().lower() for f in (reader.fieldnames or [])]
            if "file" not in fields or "prompt" not in fields:
                raise PromptError(f"plan file {path} needs a header line with the columns file,prompt")
            rows: list[tuple[Path | str, str]] = []
            for line_no, row in enumerate(reader, start=2):
                row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
                file_text, prompt = row.get("file", "").strip(), " ".join(row.get("prompt", "").split())
                if not file_text and not prompt:
                    continue
                if not file_text or not prompt:
                    raise PromptError(f"plan file {path}, line {line_no}: both file and prompt are needed")
                rows.append((_plan_path(file_text, root), prompt))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PromptError(f"cannot read plan file {path}: {exc}") from None
    if not rows:
        raise PromptError(f"plan file {path} holds no rows")
    return rows


def output_rel(in_path: Path | str, root: Path | str) -> str:
    """Where an input's output goes, relative to the output folder: its path relative to
    ``root``; an input outside ``root`` goes to ``_outside/<8 hex digits of its folder>/<name>``,
    so that two outside files of one name never share an output."""
    import hashlib

    from audiomanip.batch import storage

    file_id, root_id = storage.identity(str(in_path)), storage.identity(str(root)).rstrip("/")
    if file_id.startswith(root_id + "/") or file_id.startswith(root_id + os.sep):
        return file_id[len(root_id) + 1 :]
    folder_hash = hashlib.sha256(storage.parent(file_id).encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"_outside/{folder_hash}/{storage.name(file_id)}"


def plan_jobs(
    assignments: Sequence[tuple[Path | str, str]],
    presets: dict[str, Preset | None],
    root: Path | str,
    output_dir: Path | str,
    slugs: dict[str, str],
) -> list[BatchJob]:
    """Jobs for ``(input, label)`` pairs; ``presets[label]`` is the preset of each label
    (None: predicted by the worker).

    Outputs mirror the input tree under ``output_dir`` (see :func:`output_rel`); when some file
    is assigned more than one label, every label gets its own subfolder
    ``output_dir/<slugs[label]>/``. Each output name depends on its input and label only,
    never on the order of the assignments; a pair given twice is one job. An input whose format
    can be read but not written gets a ``.wav`` output
    (:func:`audiomanip.audio_io.writable_output_path`). UsageError when an output would replace
    an input.
    """
    from audiomanip import audio_io
    from audiomanip.batch import storage

    per_file: dict[str, int] = {}
    for f, _ in dict.fromkeys((storage.identity(str(f)), lab) for f, lab in assignments):
        per_file[f] = per_file.get(f, 0) + 1
    by_label = len({lab for _, lab in assignments}) > 1 and max(per_file.values(), default=0) > 1
    inputs = set(per_file)
    jobs = []
    made_by: dict[str, tuple[str, str]] = {}
    for f, label in assignments:
        rel = output_rel(f, root)
        rel = audio_io.writable_output_path(rel)[0].as_posix()  # a format read but not written: WAV
        out = storage.join(str(output_dir), slugs[label], rel) if by_label else storage.join(str(output_dir), rel)
        key, source = storage.identity(out), (storage.identity(str(f)), label)
        if key in made_by:
            if made_by[key] == source:
                continue  # the same file and prompt twice
            raise UsageError(f"two jobs would write {out}: {made_by[key][0]} and {source[0]}")
        if key in inputs:
            raise UsageError(f"the output {out} would replace an input; choose another --output-dir")
        made_by[key] = source
        jobs.append(BatchJob(in_path=str(f), out_path=out, label=label, preset=_as_dict(presets[label])))
    return jobs


def _as_dict(preset: Preset | None) -> dict[str, Any] | None:
    return None if preset is None else preset.to_dict()


# ------------------------------------------------------------------ running
#: Seconds a worker has, after the parent's SIGTERM, to unwind before SIGALRM ends it.
STOP_GRACE_S = 5


def _stop_worker(signum: int, frame: Any) -> None:
    """A batch worker's SIGTERM handler (sent by the parent that stops it, or by the kernel when
    the parent is gone): raise KeyboardInterrupt, so atomic writers remove their temporary files
    as it unwinds. Python drops an exception raised where it cannot propagate (in a ``__del__``,
    a C callback); the worker would then go on working, with no parent left to end it. So a
    deadline is armed first: SIGALRM (default action: end the process) after
    :data:`STOP_GRACE_S` seconds."""
    if hasattr(signal, "alarm"):
        signal.alarm(STOP_GRACE_S)
    from audiomanip.batch.job import defer_stop

    if not defer_stop():  # publishing an output and its record: stop once the record is written
        raise KeyboardInterrupt


def _init_worker() -> None:
    """Worker set-up (the pool already ignores Ctrl-C in workers, the parent's business):
    SIGTERM (from the parent stopping it, or the kernel when the parent is gone) stops the
    worker through :func:`_stop_worker`."""
    signal.signal(signal.SIGTERM, _stop_worker)
    # one compute thread per worker (torch reads this when it is first imported, in the job)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_job(job: BatchJob, options: BatchOptions) -> JobOutcome:
    """Process one job; every user-caused problem becomes a ``failed`` outcome, never an
    exception. Resume, claims and publishing: :mod:`audiomanip.batch.job`."""
    from audiomanip.batch.job import run_job as run

    return run(job, options)


def _run_job_star(args: tuple[BatchJob, BatchOptions]) -> JobOutcome:
    try:
        return run_job(*args)
    except KeyboardInterrupt:
        # stopped by the parent (SIGTERM): the writers removed their temporary files while the
        # interrupt unwound, unless it struck where one could not (see remove_temporary_files);
        # leave quietly, without a traceback on the user's terminal
        from audiomanip.tempfiles import remove_temporary_files

        remove_temporary_files()
        raise SystemExit(130) from None


#: Modules the workers need, imported once before any worker starts (in the fork server, or in
#: this process before forking it), so that no worker imports them itself.
_PRELOAD = [
    "audiomanip.processing",
    "audiomanip.rendering",
    "audiomanip.audio_io",
    "audiomanip.features",
    "audiomanip.effects.reverb",
    "audiomanip.effects.distortion",
    "audiomanip.effects.compressor",
    "audiomanip.effects.output",
    "audiomanip.effects.pitch",
    "audiomanip.batch.job",
    "audiomanip.batch.worker_pool",
    "pedalboard",
]


def _threads_here() -> int | None:
    """The number of threads of this process (Linux: ``/proc/self/task``), or None where it
    cannot be told."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def _worker_context():
    """The multiprocessing context for the next worker of the pool (asked at each worker start).

    ``fork`` of this process when that is provably safe: on Linux, when this process has one
    thread only at that moment, so that no lock of another thread (a model runtime's thread
    pool, a progress display, an I/O loop, a BLAS pool) can be inherited held. The modules of
    :data:`_PRELOAD` are imported here first (once), so a worker starts in milliseconds with
    them loaded, and PR_SET_PDEATHSIG ties it to this very process. Otherwise ``forkserver``
    where the platform has it: a clean server process imports :data:`_PRELOAD` once and forks
    each worker from there; elsewhere ``spawn``. Never ``fork`` of a process with threads.
    """
    import multiprocessing

    if sys.platform.startswith("linux") and _threads_here() == 1:
        import importlib

        for name in _PRELOAD:
            importlib.import_module(name)
        if _threads_here() == 1:  # importing them started no thread
            return multiprocessing.get_context("fork")
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def start_fork_server() -> None:
    """Start the fork server now, in the background, for a pool that will start once this
    process has other threads (a live progress display, a model runtime's thread pool), so not
    by forking this process (see :func:`_worker_context`): the server imports :data:`_PRELOAD`
    in its own process while this one goes on planning, and the workers start without waiting
    for those imports. Does nothing where the platform has no fork server."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        multiprocessing.get_context("forkserver").set_forkserver_preload(_PRELOAD)
        forkserver.ensure_running()


def iter_outcomes(
    jobs: Sequence[BatchJob],
    options: BatchOptions,
    workers: int = 1,
    on_start: Callable[[], None] | None = None,
) -> Iterator[JobOutcome]:
    """Run the jobs and yield each outcome as it finishes (in completion order).

    ``on_start()`` is called once rendering begins: after the jobs decided without rendering
    (skipped ones), once the workers are started. A caller that starts threads there (a live
    progress display) leaves this process free to fork its workers.

    ``workers`` > 1 uses that many worker processes (see :func:`_worker_context`: forked from
    this process only while it has no other thread); 1 runs in this process. Jobs
    whose output already exists are skipped without touching a worker. The pool is supervised
    (:mod:`audiomanip.batch.worker_pool`): a job whose worker dies is retried once on a fresh worker,
    then fails with the reason (``attempts``, ``worker_deaths``); the temporary files of a dead
    worker are removed. On KeyboardInterrupt the workers are stopped (their temporary files are
    removed; what a worker ended by its deadline could not remove, this process removes) and
    the interrupt propagates.
    """
    from audiomanip.batch.job import precheck

    pending = []
    for job in jobs:
        decided = precheck(job, options)
        if decided is not None:
            yield decided
        else:
            pending.append(job)
    workers = max(1, min(int(workers), len(pending)))
    if workers <= 1:
        if on_start is not None:
            on_start()
        for job in pending:
            yield run_job(job, options)
        return
    from audiomanip.batch.worker_pool import run_supervised

    def remove_leftovers(args: tuple[BatchJob, BatchOptions], pid: int) -> None:
        from audiomanip.batch.job import remove_leftovers as remove

        remove(args[0].out_path, {pid})

    for res in run_supervised(
        [(j, options) for j in pending],
        _run_job_star,
        workers=workers,
        context=_worker_context,
        initializer=_init_worker,
        on_death=remove_leftovers,
        on_started=on_start,
        stop_grace_s=STOP_GRACE_S + 1,
    ):
        job = pending[res.index]
        outcome = res.value or JobOutcome(
            in_path=job.in_path, out_path=job.out_path, label=job.label, status="failed", preset=job.preset
        )
        if res.error:
            outcome.error = res.error
        outcome.attempts, outcome.worker_deaths = res.attempts, res.deaths
        yield outcome


def run_batch(
    jobs: Sequence[BatchJob],
    options: BatchOptions,
    *,
    workers: int = 1,
    progress: Callable[[dict], None] | None = None,
    runner: Callable[..., Iterator[JobOutcome]] | None = None,
    on_start: Callable[[], None] | None = None,
) -> list[JobOutcome]:
    """Run every job; returns the outcomes in the jobs' order. ``runner`` yields outcomes as
    they finish (default :func:`iter_outcomes`, the local pool; see audiomanip.batch.ray_engine).
    ``on_start()``: called once the local pool's workers are started (see
    :func:`iter_outcomes`), or at once with another ``runner``."""
    counts = {s: 0 for s in STATUSES}
    outcomes: dict[tuple[str, str], JobOutcome] = {}
    if runner is None:
        stream = iter_outcomes(jobs, options, workers, on_start)
    else:
        if on_start is not None:
            on_start()
        stream = runner(jobs, options, workers)
    # closing(): an exception here (Ctrl-C) stops the workers at once, not at garbage collection
    with contextlib.closing(stream):
        for n, outcome in enumerate(stream, start=1):
            counts[outcome.status] += 1
            outcomes[(outcome.in_path, outcome.out_path)] = outcome
            if progress:
                progress(
                    {
                        "done": n,
                        "total": len(jobs),
                        "status": outcome.status,
                        "file": outcome.in_path,
                        "counts": dict(counts),
                    }
                )
    return [outcomes[(j.in_path, j.out_path)] for j in jobs]


def count(outcomes: Iterable[JobOutcome]) -> dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    for o in outcomes:
        counts[o.status] += 1
    return counts


def write_report(path: Path | str, outcomes: Sequence[JobOutcome], **info: Any) -> dict[str, Any]:
    """Write ``report.json`` (a path or URL): the run's settings (``info``), counts and every
    job's outcome, merged under a lock with the entries other runs left for other outputs of
    the folder (see :func:`audiomanip.batch.manifest.save_report`). Returns the merged report."""
    from audiomanip.batch.manifest import save_report

    report = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **info,
        "counts": count(outcomes),
        "files": [asdict(o) for o in outcomes],
    }
    return save_report(str(path), report, STATUSES)
