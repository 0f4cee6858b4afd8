"""Batch workers that die, parents that die, and Ctrl-C, with real processes (issue 14, 5 and 6).

A worker killed with SIGKILL (as the OOM killer would) used to hang the batch forever; killing
the parent left workers rendering, then printing BrokenPipeError tracebacks; interrupting made
idle workers print KeyboardInterrupt tracebacks. The batch runs here as a real `audiomanip batch`
process; workers are found as its descendants (a worker busy with a job holds that job's
temporary file open, which also names the job).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
from tone_checks import peak_hz, write_tone

from audiomanip.batch.manifest import is_bookkeeping

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")

SR = 8000
SECONDS = 0.5
#: Seconds without any new output after which a running batch counts as hung.
HANG_S = 60.0


def f0_of(i: int) -> float:
    return 400.0 + 10.0 * i  # inside the telephone band, 10 Hz apart (5 FFT bins at 0.5 s)


@pytest.fixture
def tones(tmp_path):
    """``n`` files of ``seconds`` (default 0.5 s) sines, file i at f0_of(i) Hz."""

    def make(n: int, seconds: float = SECONDS) -> Path:
        root = tmp_path / "tones"
        root.mkdir()
        for i in range(n):
            write_tone(root / f"t{i:03d}.wav", f0_of(i), seconds, SR)
        return root

    return make


def start_batch(tmp_path: Path, n_workers: int = 2, **popen) -> tuple[subprocess.Popen, Path, Path]:
    out, log = tmp_path / "out", tmp_path / "stderr.txt"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "audiomanip", "batch", "tones", "--preset", "telephone"]
    cmd += ["--output-dir", "out", "--workers", str(n_workers)]
    with log.open("wb") as err:  # a file: it outlives a killed parent, and workers inherit it
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=err, **popen)
    return proc, out, log


def children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_bytes()
            except OSError:
                continue
            fields = stat.rsplit(b")", 1)[1].split()
            if fields[0] != b"Z":
                kids.setdefault(int(fields[1]), []).append(int(d.name))
    return kids


def descendants(pid: int) -> set[int]:
    kids, found, todo = children(), set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in found:
                found.add(k)
                todo.append(k)
    return found


def alive(pids: set[int]) -> set[int]:
    """The pids that still exist and are not zombies."""
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != b"Z":
            living.add(pid)
    return living


def wait_gone(pids: set[int], seconds: float = 10.0) -> set[int]:
    """Wait up to ``seconds`` for the processes to end; returns those still running."""
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


def temporary_files_held(pid: int, out: Path) -> list[str]:
    """Names of the temporary files in ``out`` that process ``pid`` has open."""
    names = []
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return names
    for fd in fds:
        try:
            target = Path(os.readlink(fd))
        except OSError:
            continue
        if target.parent == out and target.name.startswith("."):
            names.append(target.name)
    return names


def outputs(out: Path) -> list[Path]:
    return sorted(out.glob("t*.wav")) if out.is_dir() else []


def wait_for_outputs(proc: subprocess.Popen, out: Path, n: int) -> None:
    last, last_change = -1, time.monotonic()
    while len(found := outputs(out)) < n:
        assert proc.poll() is None, "the batch ended early"
        if len(found) != last:
            last, last_change = len(found), time.monotonic()
        assert time.monotonic() - last_change < HANG_S, f"no new output for {HANG_S:.0f} s: hung"
        time.sleep(0.01)


def wait_until_finished(proc: subprocess.Popen, out: Path) -> None:
    """Wait for the batch to end; fail if it goes HANG_S seconds without finishing a job."""
    last, last_change = -1, time.monotonic()
    while proc.poll() is None:
        n = len(outputs(out))
        if n != last:
            last, last_change = n, time.monotonic()
        if time.monotonic() - last_change > HANG_S:
            for pid in descendants(proc.pid) | {proc.pid}:
                os.kill(pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"the batch did not finish within {HANG_S:.0f} s of its last job: hung")
        time.sleep(0.05)


def kill_a_busy_worker(proc: subprocess.Popen, out: Path) -> str:
    """Freeze the batch's workers, SIGKILL one that is writing a job, thaw the rest; returns the
    name of the output that job was writing. Tries again on later jobs while no worker is
    caught mid-write."""
    while True:
        assert proc.poll() is None, "the batch ended before a worker could be killed"
        workers = descendants(proc.pid)
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        try:
            busy = {pid: names for pid in workers if (names := temporary_files_held(pid, out))}
            if busy:
                victim = random.choice(sorted(busy))
                os.kill(victim, signal.SIGKILL)
                # the file held is ".<output name>.<pid>.<random>.partial" (or an older scheme)
                # (a batch renders into a temporary file of its own first: "..<name>.<pid>…")
                return busy[victim][0].lstrip(".").split(".wav.")[0] + ".wav"
        finally:
            for pid in workers:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        time.sleep(random.uniform(0.0, 0.05))


def check_outputs_are_right(out: Path, names: list[str], seconds: float = SECONDS) -> None:
    for name in names:
        i = int(name[1:4])
        info = sf.info(out / name)
        assert info.samplerate == SR and info.frames == int(seconds * SR), name  # complete
        assert abs(peak_hz(out / name) - f0_of(i)) <= 2.0, name  # and its own tone


def test_workers_killed_with_sigkill_cost_a_retry_not_the_batch(tmp_path, tones):
    """100 jobs, 2 workers; 2 workers killed with SIGKILL at random moments while writing a
    job. The batch finishes, every job reported done is complete and right (f0), the killed
    jobs are listed with their worker's death, and nothing temporary is left."""
    rng = random.Random(14)
    random.seed(14)
    tones(100)
    proc, out, log = start_batch(tmp_path)
    killed = []
    try:
        for threshold in sorted(rng.sample(range(5, 70), 2)):
            wait_for_outputs(proc, out, threshold)
            killed.append(kill_a_busy_worker(proc, out))
        wait_until_finished(proc, out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = log.read_text(errors="replace")
    report = json.loads((out / "report.json").read_text())
    files = {Path(f["out_path"]).name: f for f in report["files"]}
    assert len(files) == 100
    for name in killed:
        entry = files[name]
        assert entry["worker_deaths"] and "killed by signal 9" in entry["worker_deaths"][0], entry
        assert entry["attempts"] >= 2
    deaths = [f for f in files.values() if f["worker_deaths"]]
    assert 1 <= len(deaths) <= 2
    for f in files.values():
        if f["status"] == "failed":  # both attempts killed: said so on one line
            assert len(f["worker_deaths"]) == 2 and "worker died twice" in f["error"], f
            assert "out of memory?" in f["error"]
        else:
            assert f["status"] == "done", f
    done = sorted(name for name, f in files.items() if f["status"] == "done")
    assert report["counts"]["done"] == len(done) >= 98
    assert [p.name for p in outputs(out)] == done
    check_outputs_are_right(out, done)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".") and not is_bookkeeping(p.name)) == []
    assert proc.returncode == (1 if len(done) < 100 else 0), stderr
    assert "Traceback" not in stderr and "leaked" not in stderr, stderr


def test_workers_end_quietly_when_the_parent_is_killed(tmp_path, tones):
    tones(100)
    proc, out, log = start_batch(tmp_path)
    try:
        wait_for_outputs(proc, out, 5)
        workers = descendants(proc.pid)
        assert workers
        proc.kill()
        proc.wait()
        left = wait_gone(workers)
    finally:
        for pid in alive(descendants(proc.pid)):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"workers still running 10 s after their parent was killed: {left}"
    n_done = len(outputs(out))
    assert n_done < 100  # they stopped instead of finishing the batch
    time.sleep(0.5)  # anything a dying worker prints has reached the file
    stderr = log.read_text(errors="replace")
    assert "Traceback" not in stderr and "Error" not in stderr and "leaked" not in stderr, stderr
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith(".") and not is_bookkeeping(p.name))
    assert hidden == []  # no partial files (a batch's output records are kept on purpose)
    check_outputs_are_right(out, [p.name for p in outputs(out)])


def test_ctrl_c_ends_the_batch_cleanly(tmp_path, tones):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it."""
    tones(100, seconds=4.0)  # seconds of work: the batch is still running when the signal comes
    # a terminal's Ctrl-C reaches a process whose SIGINT is not ignored; a test run started in the
    # background of a shell without job control inherits SIGINT ignored (and so would the batch,
    # which then rightly finishes and exits 0), so the batch starts with the default disposition
    proc, out, log = start_batch(tmp_path, start_new_session=True,
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for_outputs(proc, out, 5)
        workers = descendants(proc.pid)
        assert proc.poll() is None, "the batch ended before the signal could be sent"
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=HANG_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    time.sleep(0.5)
    stderr = log.read_text(errors="replace")
    assert code == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr and "leaked" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted", stderr
    assert not wait_gone(workers)  # the fork server and resource tracker included
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".") and not is_bookkeeping(p.name)) == []
    check_outputs_are_right(out, [p.name for p in outputs(out)], seconds=4.0)


POOL_PROBE = """
import os, sys, threading
from multiprocessing import forkserver
from audiomanip.batch.engine import _worker_context, start_fork_server
from audiomanip.batch.worker_pool import run_supervised

def probe(_):
    return os.getppid(), "torch" in sys.modules, "audiomanip.processing" in sys.modules

if __name__ == "__main__":
    if sys.argv[1] == "thread":
        threading.Thread(target=threading.Event().wait, daemon=True).start()
        start_fork_server()  # as the CLI does before planning when its progress display will run
        server = forkserver._forkserver._forkserver_pid
    got = [r.value for r in run_supervised(range(4), probe, workers=2, context=_worker_context)]
    parent = os.getpid() if sys.argv[1] == "alone" else server
    print(all(p == parent for p, _, _ in got), any(t for _, t, _ in got), all(m for _, _, m in got))
"""


@pytest.mark.parametrize("parent", ["alone", "thread"])
def test_workers_are_forked_only_from_a_parent_without_threads(tmp_path, parent):
    """A parent with one thread forks its workers itself; with another thread running, whose
    locks a child could inherit held, they come from the fork server (started early by
    start_fork_server). Either way they start with the render modules loaded and no torch."""
    script = tmp_path / "pool_probe.py"
    script.write_text(POOL_PROBE)
    env = dict(os.environ, OMP_NUM_THREADS="1")  # no BLAS thread pool in the parent
    proc = subprocess.run(
        [sys.executable, str(script), parent],
        check=False, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False", "True"], proc.stdout
