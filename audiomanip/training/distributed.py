"""Distributed data-parallel training: launching ranks, joining them, and what a rank does differently.

Two ways to start N ranks, the same underneath:

* ``audiomanip train --nproc N`` calls :func:`launch`, which runs torch's elastic launcher (the
  engine behind ``torchrun``) on this machine: a c10d rendezvous on 127.0.0.1, N copies of
  ``python -m audiomanip train …``, each with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``MASTER_ADDR`` and ``MASTER_PORT`` set;
* ``torchrun --nproc-per-node N -m audiomanip train …`` (or any launcher that sets those
  variables: several machines, a cluster scheduler).

Each rank enters :func:`worker`, which joins the process group (gloo on CPU, NCCL on CUDA, one
GPU per local rank), and :func:`audiomanip.training.loop.train` asks :func:`current` what it is:

* data: every global batch of ``batch_size`` indices of the epoch's permutation is split like
  ``torch.utils.data.DistributedSampler`` splits its list (rank r takes every world-th index),
  so a run on N ranks takes the same steps, the same learning-rate schedule and the same samples
  per epoch as a single process, each rank computing 1/N of every batch; gradients are averaged
  by :class:`torch.nn.parallel.DistributedDataParallel`;
* rank 0 alone fills the embedding cache while the others wait at a barrier (then read it),
  evaluates the held-out splits and writes checkpoints (``interrupted`` included);
* a stop signal (Ctrl-C forwarded by the launcher, SIGTERM from a scheduler) sets a flag that
  all ranks agree on at the next step boundary (one all-reduce of a flag per step), so they all
  stop after the same step and rank 0 writes a resumable checkpoint of it;
* an error is recorded in the launcher's error file (``TORCHELASTIC_ERROR_FILE``) before the rank
  exits; the launcher then stops the other ranks (their collectives fail or they get SIGTERM)
  and :func:`launch` raises :class:`WorkerFailed` naming the rank whose failure came first.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from audiomanip.errors import AudiomanipError, UsageError

#: Seconds a collective may wait for the other ranks before the rank gives up.
COLLECTIVE_TIMEOUT_S = 600.0
#: Seconds the launcher leaves stopping ranks (to write their checkpoint) before SIGKILL.
SHUTDOWN_TIMEOUT_S = 30
_STOP = {"requested": False}


class DistributedError(AudiomanipError):
    """A rank failed, lost contact with the others, or the ranks cannot be started."""


class WorkerFailed(DistributedError):
    """A rank of a :func:`launch` ended with an error. ``rank``: the rank whose failure came first;
    ``exit_code``: its exit status (that of its error when it recorded one); ``reported``: the
    rank recorded a user-facing error (and, being a CLI rank, has already printed it)."""

    def __init__(self, message: str, *, rank: int, exit_code: int, reported: bool):
        super().__init__(message)
        self.rank, self.exit_code, self.reported = rank, exit_code, reported


class PeerLost(DistributedError):
    """This rank stopped because another rank failed first (a collective broke); that rank
    reports the cause."""


@dataclass(frozen=True)
class Context:
    """What this process is in a run: ``rank`` of ``world_size`` (``local_rank`` on its machine)
    and its torch ``device`` ("cpu" or "cuda:<local_rank>")."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the body first (e.g. fills a cache); the others wait, then run it."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def wrap(self, net: Any, *, unused_parameters: bool = False) -> Any:
        """``net`` inside DistributedDataParallel (gradients averaged over ranks); ``net`` itself
        in a single process. Parameters are shared: build the optimizer on ``net``.
        ``unused_parameters``: some steps leave parameters without a gradient (an optional
        input such as the audio view), which DDP must then look for. Once every rank holds rank
        0's weights (DDP copies them), torch's global generator is re-seeded with its initial
        seed + rank, so that the ranks' dropout masks differ as those of one batch would."""
        if not self.distributed:
            return net
        import torch
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if self.device.startswith("cuda") else None
        wrapped = DistributedDataParallel(net, device_ids=ids, find_unused_parameters=unused_parameters)
        torch.manual_seed(torch.initial_seed() + self.rank)
        return wrapped

    def share(self, n: int) -> int:
        """How many of ``n`` items (a sub-batch size) this rank takes: ``n`` split as
        :meth:`shard` splits, at least 1."""
        return max(1, len(range(self.rank, n, self.world_size)))

    def shard(self, indices: Sequence[int]) -> list[int]:
        """This rank's share of a global batch: every world-th index from ``rank`` (the split of
        DistributedSampler). A batch smaller than the world is repeated so that no rank gets
        none (DistributedSampler pads the same way)."""
        idx = list(indices)
        if not self.distributed:
            return idx
        if not idx:
            raise ValueError("cannot shard an empty batch")
        while len(idx) < self.world_size:
            idx = idx + idx
        return idx[self.rank::self.world_size]

    def stop_requested(self) -> bool:
        """True on every rank once any rank got a stop signal (called by all ranks at the same
        step: an all-reduce of the flag). Always False in a single process, where Ctrl-C raises
        KeyboardInterrupt directly."""
        if not self.distributed:
            return False
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1 if _STOP["requested"] else 0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


def launched() -> bool:
    """True in a process started by a launcher (torchrun, :func:`launch`): WORLD_SIZE and RANK set."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def current() -> Context:
    """The context of this process: that of :func:`worker` when a process group is joined,
    else a single process on the CPU."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch without distributed support
        return Context()
    if not (dist.is_available() and dist.is_initialized()):
        return Context()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    backend = dist.get_backend()
    return Context(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local,
                   device=f"cuda:{local}" if backend == "nccl" else "cpu")


def _env_int(name: str) -> int:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        raise DistributedError(f"the launcher set no valid {name} (got {os.environ.get(name)!r})") from None


@contextmanager
def worker(device: str = "cpu") -> Iterator[Context]:
    """Join the run described by the launcher's environment; a single-process context when the
    process was not launched (no WORLD_SIZE/RANK).

    ``device``: "cpu" or "cuda" (already resolved; see :func:`audiomanip.device.resolve_device`).
    CUDA ranks use NCCL and GPU ``LOCAL_RANK``; CPU ranks use gloo. While inside, SIGINT and
    SIGTERM request a stop (see :meth:`Context.stop_requested`; a second one interrupts at
    once). An exception leaving the block is recorded in ``TORCHELASTIC_ERROR_FILE`` for the
    launcher; one caused by a broken collective becomes :class:`PeerLost`. The process group is
    destroyed on the way out.
    """
    if not launched():
        yield Context(device=device)
        return
    import datetime

    import torch
    import torch.distributed as dist

    rank, world, local = _env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK")
    if device.startswith("cuda"):
        if local >= torch.cuda.device_count():
            raise DistributedError(f"local rank {local} has no GPU: this machine has {torch.cuda.device_count()}; "
                                   "start at most that many processes per machine")
        torch.cuda.set_device(local)
        backend, device = "nccl", f"cuda:{local}"
    else:
        backend, device = "gloo", "cpu"
    _STOP["requested"] = False
    previous = {s: signal.signal(s, _request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    joined = False
    try:
        dist.init_process_group(backend, rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S))
        joined = True
        yield Context(rank=rank, world_size=world, local_rank=local, device=device)
    except BaseException as exc:
        lost = world > 1 and _is_collective_failure(exc)
        _record_failure(exc, peer_lost=lost)
        if lost:
            raise PeerLost(f"rank {rank} stopped: another rank failed first") from None
        raise
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if joined:
            try:
                dist.destroy_process_group()
            except Exception:  # noqa: BLE001, S110 - a broken group cannot always be torn down cleanly
                pass


def _request_stop(signum: int, frame: Any) -> None:
    if _STOP["requested"]:
        raise KeyboardInterrupt
    _STOP["requested"] = True


def _is_collective_failure(exc: BaseException) -> bool:
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("Connection closed by peer", "Connection reset by peer", "Gloo", "NCCL", "ProcessGroup"))


def _record_failure(exc: BaseException, *, peer_lost: bool) -> None:
    """Write the launcher's error file: torchelastic's JSON (message, timestamp, call stack) plus
    an ``audiomanip`` record (exact time, exit code, whether it is a user-facing error)."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return
    if isinstance(exc, KeyboardInterrupt):
        message, code, user = "interrupted", 130, True
    else:
        message = f"{exc}" if isinstance(exc, AudiomanipError) else f"{type(exc).__name__}: {exc}"
        code = exc.exit_code if isinstance(exc, AudiomanipError) else 70
        user = not peer_lost
    now = time.time()
    data = {"message": {"message": message.splitlines()[0] if message else type(exc).__name__,
                        "extraInfo": {"py_callstack": traceback.format_exc(), "timestamp": str(int(now))}},
            "audiomanip": {"time": now, "exit_code": code, "peer_lost": peer_lost, "reported": user}}
    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
    except OSError:
        pass  # the launcher then reports the exit code alone


# --------------------------------------------------------------------------- launching
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(nproc: int, args: Sequence[str], *, log_dir: str | None = None) -> None:
    """Run ``python ARGS…`` as ``nproc`` ranks on this machine through torch's elastic launcher
    (what ``torchrun --standalone --nproc-per-node nproc`` does; rendezvous on 127.0.0.1, no
    restarts). Output of the ranks is not redirected; ``log_dir`` keeps torchelastic's per-rank
    files (error files), otherwise a temporary folder is used and removed. Returns when all ranks succeeded;
    raises :class:`WorkerFailed` for the first rank that failed after the launcher stopped the
    others, and KeyboardInterrupt when interrupted (the ranks get the signal and stop together).
    """
    if nproc < 1:
        raise UsageError("--nproc must be at least 1")
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    quiet = logging.getLogger("torch.distributed.elastic")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its warnings and failure tables; we report one line
    # the ranks' error files live in a folder removed afterwards unless the caller names one
    with tempfile.TemporaryDirectory(prefix="audiomanip-ranks-") as own_logs:
        config = LaunchConfig(
            min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"audiomanip-{os.getpid()}",
            rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{_free_port()}", local_addr="127.0.0.1",
            max_restarts=0, monitor_interval=0.1,
            logs_specs=DefaultLogsSpecs(log_dir=log_dir or own_logs), shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        )
        try:
            elastic_launch(config, sys.executable)(*args)
        except ChildFailedError as exc:
            raise _first_failure(exc, nproc) from None
        except SignalException:
            raise KeyboardInterrupt from None
        finally:
            quiet.setLevel(level)


def _first_failure(exc: Any, nproc: int) -> WorkerFailed:
    """The failure that caused the others: an error a rank recorded itself first (earliest time),
    then a rank that died without recording one (a signal, a crash), then a lost contact."""
    ranked = []
    for rank, failure in exc.failures.items():
        ours = failure.error_file_data.get("audiomanip") if isinstance(failure.error_file_data, dict) else None
        if ours and not ours.get("peer_lost"):
            ranked.append(((0, float(ours["time"])), rank, failure, ours))
        elif ours is None and failure.exitcode != -signal.SIGTERM:
            ranked.append(((1, float(failure.timestamp)), rank, failure, None))
        else:
            ranked.append(((2, float(ours["time"]) if ours else float(failure.timestamp)), rank, failure, ours))
    _, rank, failure, ours = min(ranked, key=lambda r: r[0])
    if ours is not None:
        message = failure.message["message"] if isinstance(failure.message, dict) else str(failure.message)
        return WorkerFailed(f"rank {rank} of {nproc} failed: {message}", rank=rank,
                            exit_code=int(ours["exit_code"]), reported=bool(ours.get("reported")))
    if failure.exitcode < 0:
        how = f"was killed by {failure.signal_name()}"
    else:
        how = f"exited with status {failure.exitcode} without a message"
    return WorkerFailed(f"rank {rank} of {nproc} {how}; the other ranks were stopped", rank=rank,
                        exit_code=1, reported=False)
