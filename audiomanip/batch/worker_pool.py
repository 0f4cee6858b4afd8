"""A supervised pool of worker processes: a worker that dies costs one retry, never the run.

:func:`run_supervised` runs ``fn(item)`` for every item in worker processes and yields a
:class:`TaskResult` per item as each finishes. Each worker has a pipe of its own (no shared
queue whose lock a killed worker could take with it) and the parent waits on the pipes and on
the processes' sentinels together, so a worker's death is seen at once:

- the item it held is given to a fresh worker (started in its place), once; a second death
  gives up on the item with a one-line reason (``"worker died twice (killed by signal 9,
  SIGKILL: out of memory?)"``);
- ``on_death(item, pid)`` lets the caller remove what the dead process left (its temporary files).

Workers exit quietly, without a traceback, when they are stopped (SIGTERM from the parent) and
when the parent is gone: on Linux the kernel sends them SIGTERM when the process that forked
them ends (``PR_SET_PDEATHSIG``: the parent itself with the ``fork`` start method; with
``forkserver`` the fork server, which itself ends with the parent), and everywhere a watchdog thread checks once a second that
the parent is alive. Ctrl-C is the parent's business: workers ignore SIGINT; the parent stops
them (SIGTERM, then SIGKILL after ``stop_grace_s``), calls ``on_death`` for each unfinished item
and lets the KeyboardInterrupt propagate.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

#: Attempts an item gets when its worker dies under it.
MAX_ATTEMPTS = 2
#: Seconds between a worker's checks that its parent is alive.
PARENT_CHECK_S = 1.0
#: Name given to worker processes (``ps``, ``top``; Linux shows at most 15 characters).
WORKER_NAME = "audiomanip-wkr"


@dataclass
class TaskResult:
    """What became of one item: ``value`` is ``fn(item)``, or ``error`` says why there is none."""

    index: int
    value: Any = None
    error: str | None = None
    attempts: int = 1
    #: One reason per worker that died holding this item, e.g. "killed by signal 9 (SIGKILL)".
    deaths: list[str] = field(default_factory=list)


def death_reason(exitcode: int | None) -> str:
    """A dead process's exit code in words: ``-9`` → ``"killed by signal 9 (SIGKILL)"``."""
    if exitcode is None:
        return "ended"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-exitcode} ({name})"
    return f"exit code {exitcode}"


def _give_up_message(deaths: list[str]) -> str:
    oom = any("SIGKILL" in d for d in deaths)
    what = "twice" if len(deaths) == 2 else f"{len(deaths)} times"
    return f"worker died {what} ({'; '.join(dict.fromkeys(deaths))}{': out of memory?' if oom else ''})"


# ------------------------------------------------------------------ the worker's side
def _set_name(name: str) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
        except (OSError, AttributeError):
            pass


def _die_with_parent() -> None:
    """Linux: SIGTERM when the process that forked this one ends (PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (killed, not yet reaped by its parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True  # no /proc: the signal test is all there is


def _watch_parent(pid: int) -> None:
    while process_alive(pid):
        time.sleep(PARENT_CHECK_S)
    os.kill(os.getpid(), signal.SIGTERM)


def _worker_main(conn, fn: Callable[[Any], Any], initializer: Callable[[], None] | None, parent: int) -> None:
    """A worker: receive ``(index, item)``, send back ``(index, fn(item))``, until ``None`` or
    until the parent is gone. Exits without a traceback however it is stopped."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
        _set_name(WORKER_NAME)
        _die_with_parent()
        if not process_alive(parent):  # it died before PR_SET_PDEATHSIG took effect
            return
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
        if initializer is not None:
            initializer()
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the parent is gone
                return
            if message is None:
                return
            index, item = message
            try:
                reply = (index, fn(item), None)
            except Exception as exc:  # noqa: BLE001 - reported as this item's error
                reply = (index, None, f"{type(exc).__name__}: {' '.join(str(exc).split())}")
            try:
                conn.send(reply)
            except OSError:  # BrokenPipeError: the parent is gone
                return
    except (KeyboardInterrupt, SystemExit) as exc:
        # stopped (SIGTERM becomes KeyboardInterrupt in the initializer's handler): quietly
        code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 130
        os._exit(code)


# ------------------------------------------------------------------ the parent's side
@dataclass
class _Worker:
    process: Any
    conn: Any
    task: int | None = None  # index of the item it holds


def run_supervised(
    items: Sequence[Any],
    fn: Callable[[Any], Any],
    *,
    workers: int,
    context: Any,
    initializer: Callable[[], None] | None = None,
    on_death: Callable[[Any, int], None] | None = None,
    on_started: Callable[[], None] | None = None,
    stop_grace_s: float = 6.0,
) -> Iterator[TaskResult]:
    """Run ``fn(item)`` for every item in ``workers`` processes of the multiprocessing
    ``context`` (or of the context that ``context()`` returns at each worker's start); yield a
    :class:`TaskResult` per item in completion order.

    ``fn`` and ``initializer`` (run once in each worker) must be picklable (module-level
    functions, ``functools.partial`` of them), like ``items`` and what ``fn`` returns; an
    Exception raised by ``fn`` becomes that item's ``error`` (one line). ``on_started()`` is
    called once the first workers are started. ``stop_grace_s``: how long stopped workers get
    before SIGKILL. See the module docstring for deaths and stopping.
    """
    parent = os.getpid()
    pending: deque[int] = deque(range(len(items)))
    attempts = [0] * len(items)
    deaths: list[list[str]] = [[] for _ in items]
    pool: list[_Worker] = []
    left = len(items)

    def start(task: int | None = None) -> _Worker:
        ctx = context() if callable(context) else context
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        proc = ctx.Process(
            target=_worker_main, args=(child_conn, fn, initializer, parent), daemon=True, name=WORKER_NAME
        )
        proc.start()
        child_conn.close()
        w = _Worker(proc, parent_conn)
        pool.append(w)
        if task is not None:
            assign(w, task)
        return w

    def assign(w: _Worker, task: int) -> None:
        w.task = task
        attempts[task] += 1
        try:
            w.conn.send((task, items[task]))
        except OSError:  # it just died: its sentinel tells, and the item is retried
            pass

    def feed(w: _Worker) -> None:
        if pending:
            assign(w, pending.popleft())

    try:
        for _ in range(max(1, min(workers, len(items)))):
            feed(start())
        if on_started is not None:
            on_started()
        while left:
            ready = set(wait([w.conn for w in pool] + [w.process.sentinel for w in pool]))
            for w in list(pool):
                if w.conn in ready or (w.process.sentinel in ready and _poll(w.conn)):
                    try:
                        index, value, error = w.conn.recv()
                    except (EOFError, OSError):
                        pass  # died while sending: handled as a death below
                    else:
                        w.task = None
                        left -= 1
                        yield TaskResult(index, value, error, attempts[index], deaths[index])
                        if w.process.sentinel not in ready:
                            feed(w)
                if w.process.sentinel in ready:
                    w.process.join()
                    pool.remove(w)
                    w.conn.close()
                    if w.task is None:  # died idle: replace it while there is work
                        if pending:
                            feed(start())
                        continue
                    task = w.task
                    deaths[task].append(death_reason(w.process.exitcode))
                    if on_death is not None:
                        on_death(items[task], w.process.pid)
                    if attempts[task] < MAX_ATTEMPTS:
                        start(task)  # a fresh worker for the retry
                    else:
                        left -= 1
                        yield TaskResult(
                            task,
                            error=_give_up_message(deaths[task]),
                            attempts=attempts[task],
                            deaths=deaths[task],
                        )
                        if pending:
                            feed(start())
        for w in pool:
            try:
                w.conn.send(None)
            except OSError:
                pass
    except BaseException:
        _stop(pool, stop_grace_s)
        if on_death is not None:
            for w in pool:
                if w.task is not None:
                    on_death(items[w.task], w.process.pid)
        raise
    finally:
        for w in pool:
            w.process.join(stop_grace_s)
            if w.process.exitcode is None:
                w.process.kill()
                w.process.join()
            w.conn.close()


def _poll(conn) -> bool:
    try:
        return conn.poll()
    except (EOFError, OSError):
        return False


def _stop(pool: list[_Worker], grace_s: float) -> None:
    """SIGTERM every worker, then SIGKILL those still there after ``grace_s``; returns once all
    have ended."""
    for w in pool:
        if w.process.exitcode is None:
            w.process.terminate()
    deadline = time.monotonic() + grace_s
    for w in pool:
        w.process.join(max(0.0, deadline - time.monotonic()))
        if w.process.exitcode is None:
            w.process.kill()
            w.process.join()
