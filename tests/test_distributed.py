"""Distributed data-parallel training with real processes: gloo ranks on the CPU, started by
``audiomanip train --nproc`` and by torchrun (tiny runs; every wait has a timeout, so a hang
fails the test instead of blocking the suite)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from audiomanip.training import distributed
from audiomanip.checkpoint import list_checkpoints, load_checkpoint

WORKER = Path(__file__).resolve().parent / "ddp_worker.py"
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
TIMEOUT_S = 240


def torchrun(*args, nproc: int = 2, check: bool = True) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node nproc tests/ddp_worker.py ARGS`` on 127.0.0.1."""
    logs = Path(args[0]).parent / "torchrun-logs"  # beside the run, not in /tmp
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
           "--rdzv-backend", "c10d", "--rdzv-endpoint", "127.0.0.1:0", "--local-addr", "127.0.0.1",
           "--max-restarts", "0", "--log-dir", str(logs), str(WORKER), *map(str, args)]
    res = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if check:
        assert res.returncode == 0, res.stderr[-3000:]
    return res


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    state, _ = load_checkpoint(checkpoint)
    return {k: v for k, v in state.items() if not k.startswith("__optimizer__.")}


@pytest.mark.slow
def test_torchrun_two_ranks_share_the_batches_and_rank_0_alone_fills_the_cache_and_writes(tmp_path):
    out = tmp_path / "run"
    torchrun(out, tmp_path / "cache")
    ev = out / "evidence"
    # 96 pairs in global batches of 16: 6 steps per epoch on each rank, as in one process
    assert lines(ev / "steps-rank0.txt") == lines(ev / "steps-rank1.txt") == [str(s) for s in range(1, 19)]
    # rank 0 wrote every checkpoint (last after each epoch, final); rank 1 none
    assert lines(ev / "saves-rank0.txt") == ["last", "last", "last", "final"]
    assert not (ev / "saves-rank1.txt").exists()
    assert {p.name for p in list_checkpoints(out)} == {"last", "final"}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    # rank 0 encoded the 96 prompts into the shared cache; rank 1 read them from disk
    assert sum(map(int, lines(ev / "encoded-rank0.txt"))) == 96
    assert not (ev / "encoded-rank1.txt").exists()
    shards = list((tmp_path / "cache").rglob("*"))
    assert [p.name.startswith("shard-") for p in shards if p.is_file()] == [True]
    # a second run finds every prompt in the cache: no rank encodes anything
    torchrun(tmp_path / "again", tmp_path / "cache", "--epochs", 1)
    assert not list((tmp_path / "again" / "evidence").glob("encoded-rank*.txt"))


@pytest.mark.slow
def test_interrupted_two_rank_run_resumes_to_the_result_of_an_uninterrupted_one(tmp_path):
    straight = tmp_path / "straight"
    torchrun(straight, tmp_path / "cache")
    cut = tmp_path / "cut"
    res = torchrun(cut, tmp_path / "cache", "--interrupt-step", 8, check=False)
    assert res.returncode != 0  # Ctrl-C ends the run
    # both ranks stopped after the same step; rank 0 alone wrote the resumable checkpoint
    assert lines(cut / "evidence" / "steps-rank0.txt")[-1] == lines(cut / "evidence" / "steps-rank1.txt")[-1] == "8"
    assert lines(cut / "evidence" / "saves-rank0.txt") == ["last", "interrupted"]
    assert not (cut / "evidence" / "saves-rank1.txt").exists()
    _, config = load_checkpoint(cut / "interrupted")
    assert config["training_state"]["step"] == 8

    resumed = tmp_path / "resumed"
    torchrun(resumed, tmp_path / "cache", "--resume", cut / "interrupted")
    assert lines(resumed / "evidence" / "steps-rank1.txt") == [str(s) for s in range(9, 19)]
    a, b = weights(resumed / "final"), weights(straight / "final")
    assert a.keys() == b.keys()
    for k in b:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


@pytest.mark.slow
def test_a_failing_rank_stops_the_others_and_is_named(tmp_path):
    out = tmp_path / "run"
    # audiomanip's launcher, in a child process so that a hang would only time out
    code = ("import sys; from audiomanip.training import distributed\n"
            "try:\n"
            f"    distributed.launch(2, [{str(WORKER)!r}, {str(out)!r}, {str(tmp_path / 'cache')!r}, "
            "'--epochs', '50', '--fail-rank', '1', '--fail-step', '3'])\n"
            "except distributed.WorkerFailed as e:\n"
            "    print(e.rank, e.exit_code, e.reported); print(e); sys.exit(1)\n")
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert res.returncode == 1, res.stderr[-3000:]
    info, message = res.stdout.strip().splitlines()
    assert info == "1 2 True"  # rank 1, the exit code of a UsageError, a message of its own
    assert message == "rank 1 of 2 failed: rank 1 fails on purpose at step 3"
    # rank 0 was stopped long before its 300 steps
    assert len(lines(out / "evidence" / "steps-rank0.txt")) < 300
    assert time.monotonic() - started < TIMEOUT_S


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(c) for c in text.split()]


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"RANK="):
            return int(item[5:])
    return None


@pytest.fixture
def pair_file(tmp_path):
    import json

    from test_training import make_pairs

    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"prompt": p.prompt, "preset": p.preset.to_dict()}) + "\n"
                            for p in make_pairs()[:64]))
    return path


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "audiomanip", "train", "--device", "cpu", "--pairs", "0", "--batch-size", "16",
            "--d-model", "16", "--layers", "0", "--stft-every", "0", *map(str, args)]


@pytest.mark.slow
def test_cli_nproc_2_trains_once_and_one_rank_reports(tmp_path, pair_file):
    out = tmp_path / "run"
    res = subprocess.run(_cli("--nproc", 2, "--epochs", 2, "--dataset-path", pair_file, "--output-dir", out,
                              "--cache-dir", tmp_path / "cache"),
                         env=ENV, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    # 64 pairs in global batches of 16 -> 4 steps per epoch, as in one process; one report
    assert res.stdout.count("trained 8 steps") == 1, res.stdout
    assert res.stderr.count("64 training pairs") == 1
    assert {p.name for p in list_checkpoints(out)} == {"last", "final"}
    _, config = load_checkpoint(out / "final")
    assert config["training_state"]["step"] == 8


@pytest.mark.slow
def test_cli_a_rank_killed_mid_run_ends_the_run_with_one_error_line(tmp_path, pair_file):
    out = tmp_path / "run"
    proc = subprocess.Popen(_cli("--nproc", 2, "--epochs", 5000, "--dataset-path", pair_file, "--output-dir", out,
                                 "--cache-dir", tmp_path / "cache"),
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not (out / "last").exists():  # training is under way on both ranks
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
            time.sleep(0.2)
        ranks = {_rank_of(c): c for c in _children(proc.pid)}
        os.kill(ranks[1], signal.SIGKILL)
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert errors == ["error: rank 1 of 2 was killed by SIGKILL; the other ranks were stopped"], err[-3000:]
    assert "Traceback" not in err
    assert not [c for c in ranks.values() if Path(f"/proc/{c}").exists()]  # rank 0 is gone too


def test_shard_splits_like_distributed_sampler():
    from torch.utils.data.distributed import DistributedSampler

    batch = list(range(100, 116))
    shares = [distributed.Context(rank=r, world_size=4).shard(batch) for r in range(4)]
    sampler = [list(DistributedSampler(batch, num_replicas=4, rank=r, shuffle=False)) for r in range(4)]
    assert shares == [[batch[i] for i in s] for s in sampler]
    assert sorted(i for s in shares for i in s) == batch
    # a last batch smaller than the world is repeated so that no rank is empty
    assert [distributed.Context(rank=r, world_size=4).shard([7, 8, 9]) for r in range(4)] == [[7, 8], [8, 9], [9], [7]]
    assert distributed.Context().shard([1, 2, 3]) == [1, 2, 3]
