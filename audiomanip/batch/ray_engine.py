"""The Ray engine of ``batch --engine ray``: the same jobs, rendered by a pool of Ray actors.

The driver (the ``audiomanip batch`` process) plans every job; it never loads the model. Each
actor imports the rendering stack once when it starts; when its jobs come from prompts (planned
with ``predict=False``, no preset yet) it loads the model once, on its first such job, and
predicts each distinct prompt once (:meth:`audiomanip.batch.plan.PromptModel.preset`, the path
the local engine takes in the parent). It then runs :func:`audiomanip.batch.job.run_job`, the
function the local pool runs, on one job at a time (two are queued per actor so that it never
waits for the driver). Inputs and outputs are read and written by the actors themselves, so on
a cluster of several machines they must be URLs every node can reach (``s3://…``) or a shared
file system; so must a checkpoint given with ``--checkpoint-path`` (without one, each node
loads the default model it has installed).

When an actor is lost (its process or its node died) the jobs it held are handed to the
remaining actors, up to :data:`MAX_ATTEMPTS` times each; claims taken by the lost attempt
belong to this run and are taken over by the retry (:mod:`audiomanip.batch.manifest`), and an
output is only ever published whole, so no partial output is left behind.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from audiomanip.batch.engine import BatchJob, BatchOptions, JobOutcome
from audiomanip.batch.plan import PromptModel
from audiomanip.errors import ClusterError, DependencyError

#: Attempts per job before it is reported failed because its workers kept dying.
MAX_ATTEMPTS = 3
#: Jobs queued on each actor at a time.
JOBS_PER_ACTOR = 2
#: Environment variables handed to the workers (credentials and endpoints of the storage).
FORWARDED_ENV_PREFIXES = ("AWS_", "FSSPEC_", "GOOGLE_", "AZURE_")


def _ray():
    try:
        import ray
    except ImportError:
        raise DependencyError("--engine ray needs Ray: pip install 'audiomanip[cluster]'") from None
    return ray


class _Renderer:
    """One actor: imports the rendering stack once, then renders job after job; predicts the
    presets of jobs that have none with ``prompt_model`` (model loaded on the first, each
    distinct prompt predicted once)."""

    def __init__(self, prompt_model: PromptModel | None = None) -> None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        import audiomanip.batch.job
        import audiomanip.processing
        import audiomanip.rendering  # noqa: F401

        self._prompt_model = prompt_model
        self._presetter: Any = None
        #: prompt -> (preset dict, the model's info, notes) or the one-line error predicting it
        self._predicted: dict[str, tuple[dict[str, Any], dict[str, Any] | None, list[str]] | str] = {}

    def ready(self) -> bool:
        """Answers once the actor runs (it then has a CPU and its imports are done)."""
        return True

    def run(self, job: BatchJob, options: BatchOptions) -> tuple[JobOutcome, dict[str, Any] | None, list[str]]:
        """The job's outcome, with the model's ``info`` and the prompt's notes when this actor
        predicted its preset (None and [] otherwise)."""
        from audiomanip.batch.job import run_job

        if job.preset is not None:
            return run_job(job, options), None, []
        predicted = self._predict(job.label)
        if isinstance(predicted, str):
            return _failed(job, predicted), None, []
        preset, info, notes = predicted
        return run_job(dataclasses.replace(job, preset=preset), options), info, notes

    def _predict(self, prompt: str) -> tuple[dict[str, Any], dict[str, Any] | None, list[str]] | str:
        from audiomanip.errors import AudiomanipError
        from audiomanip.params import PresetError

        if prompt not in self._predicted:
            if self._prompt_model is None:
                self._predicted[prompt] = f"no preset for {prompt!r} and no model to predict it"
            else:
                if self._presetter is None:
                    self._presetter = self._prompt_model.presetter()  # loads the model on first use
                try:
                    preset, info, notes = self._prompt_model.preset(self._presetter, prompt)
                    self._predicted[prompt] = (preset.to_dict(), info, notes)
                except (AudiomanipError, PresetError) as exc:  # e.g. a checkpoint this node cannot load
                    self._predicted[prompt] = " ".join(str(exc).split())
        return self._predicted[prompt]


class RayRunner:
    """Runs jobs on a Ray cluster; call :meth:`connect` first and :meth:`close` at the end.
    Used as the ``runner`` of :func:`audiomanip.batch.engine.run_batch`."""

    def __init__(
        self,
        address: str | None = None,
        *,
        prompt_model: PromptModel | None = None,
        note: Callable[[str], None] | None = None,
        keep_actors: bool = False,
    ) -> None:
        """``prompt_model``: how the actors predict the jobs that have no preset (see
        :func:`audiomanip.batch.plan.plan_batch` with ``predict=False``); ``note`` hears each
        distinct note of those predictions once, as the first outcome bringing it arrives;
        ``keep_actors``: the actors outlive a batch, for the next one (until :meth:`close`),
        so that only the first batch waits for them to start."""
        self.address = address
        self.keep_actors = keep_actors
        self._pool: list[Any] = []
        self.prompt_model = prompt_model
        self.note = note
        #: The model's ``info`` as an actor reported it (None until an actor predicted a prompt).
        self.model_info: dict[str, Any] | None = None
        self._notes_heard: set[str] = set()
        self._actor_class: Any = None
        #: Actors known to run (their ``ready`` answered): only these are given jobs.
        self._running: set[Any] = set()

    def connect(self, workers: int = 0) -> int:
        """Join the cluster (or start Ray here); returns the number of actors to use:
        ``workers``, or one per CPU of the cluster when ``workers`` is 0."""
        ray = _ray()
        _check_reachable(self.address)
        env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
        env["OMP_NUM_THREADS"] = "1"
        try:
            ray.init(
                address=self.address or "local",  # a new instance here: never a stale cluster file's
                runtime_env={"env_vars": env},
                logging_level=logging.WARNING,
                log_to_driver=False,
                include_dashboard=False if self.address is None else None,
                configure_logging=True,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(
                f"cannot reach the Ray cluster at {self.address or 'a new local instance'}: "
                f"{' '.join(str(exc).split())[:300]}"
            ) from None
        self._actor_class = ray.remote(num_cpus=1, max_restarts=0)(_Renderer)
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if workers > cpus and self.note is not None:
            self.note(f"{workers} workers asked for, the cluster has {cpus} CPUs now: "
                      f"{workers - cpus} actors start only when CPUs free up or nodes join")
        return workers or cpus

    def stop_actors(self) -> None:
        """End the actors kept from earlier batches (``keep_actors``), freeing their CPUs."""
        ray = _ray()
        if ray.is_initialized():
            for actor in self._pool:
                ray.kill(actor, no_restart=True)
        self._pool = []
        self._running = set()

    def close(self) -> None:
        self.stop_actors()
        ray = _ray()
        if ray.is_initialized():
            ray.shutdown()

    def __call__(self, jobs: Sequence[BatchJob], options: BatchOptions, workers: int) -> Iterator[JobOutcome]:
        """Yield each job's outcome as it finishes (skips decided here first, like the local pool)."""
        from audiomanip.batch.job import precheck
        from audiomanip.batch.manifest import release

        ray = _ray()
        lost = (
            ray.exceptions.RayActorError,
            ray.exceptions.ActorUnavailableError,
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.ObjectLostError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.OwnerDiedError,
        )
        # the actors start (in their own processes) while the jobs are checked here; jobs go only
        # to actors that run, so an actor still waiting for a CPU (more workers than the cluster
        # has free CPUs) holds none back
        load: dict[Any, int] = {}
        starting: dict[Any, Any] = {}  # the ready() answer awaited -> its actor
        for actor in self._actors(max(1, min(workers, len(jobs)))):
            if actor in self._running:
                load[actor] = 0
            else:
                starting[actor.ready.remote()] = actor
        inflight: dict[Any, tuple[Any, BatchJob, int]] = {}
        queue: collections.deque[tuple[BatchJob, int]] = collections.deque()
        gone: set[Any] = set()  # actors lost (their process or node died)
        try:
            for job in jobs:
                decided = precheck(job, options)
                if decided is not None:
                    yield decided
                else:
                    queue.append((job, 1))
            while queue or inflight:
                for actor in list(load):
                    while queue and load[actor] < JOBS_PER_ACTOR:
                        job, attempt = queue.popleft()
                        inflight[actor.run.remote(job, options)] = (actor, job, attempt)
                        load[actor] += 1
                ready, _ = ray.wait(list(inflight) + list(starting), num_returns=1, timeout=1.0)
                for ref in ready:
                    if ref in starting:
                        actor = starting.pop(ref)
                        try:
                            ray.get(ref)
                        except lost:
                            gone.add(actor)
                        else:
                            self._running.add(actor)
                            load[actor] = 0
                        self._replace_if_none_left(load, starting)
                        continue
                    actor, job, attempt = inflight.pop(ref)
                    try:
                        outcome = self._heard(*ray.get(ref))
                    except lost as exc:
                        load.pop(actor, None)
                        gone.add(actor)
                        if attempt < MAX_ATTEMPTS:
                            queue.appendleft((job, attempt + 1))
                        else:
                            release(job.out_path, options.run_id)
                            yield _failed(job, f"its worker died {attempt} times ({type(exc).__name__})")
                        self._replace_if_none_left(load, starting)
                        continue
                    except ray.exceptions.RayTaskError as exc:
                        outcome = _failed(job, " ".join(str(exc.cause or exc).split())[:500])
                    if actor in load:
                        load[actor] -= 1
                    yield outcome
        finally:
            self._pool = [a for a in self._pool if a not in gone]
            self._running -= gone
            if inflight or not self.keep_actors:  # interrupted, or done with them
                self.stop_actors()
            for _, job, _ in inflight.values():  # interrupted: free what this run had claimed
                release(job.out_path, options.run_id)

    def _replace_if_none_left(self, load: dict[Any, int], starting: dict[Any, Any]) -> None:
        """Every actor is gone (lost with its process or node): start a fresh one where Ray can."""
        if not load and not starting:
            fresh = self._start_actor()
            starting[fresh.ready.remote()] = fresh

    def _actors(self, n: int) -> list[Any]:
        """``n`` actors: those kept from an earlier call (``keep_actors``), then new ones."""
        while len(self._pool) < n:
            self._start_actor()
        return self._pool[:n]

    def _start_actor(self) -> Any:
        actor = self._actor_class.remote(self.prompt_model)
        self._pool.append(actor)
        return actor

    def _heard(self, outcome: JobOutcome, info: dict[str, Any] | None, notes: list[str]) -> JobOutcome:
        """An actor's answer: keeps the model's ``info``, passes on notes not heard before."""
        if info is not None:
            self.model_info = info
        for message in notes:
            if message not in self._notes_heard:
                self._notes_heard.add(message)
                if self.note is not None:
                    self.note(message)
        return outcome


def _check_reachable(address: str | None, timeout_s: float = 5.0) -> None:
    """ClusterError at once when ``host:port`` does not answer (Ray itself retries for minutes)."""
    import socket

    if not address or address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as exc:
        raise ClusterError(
            f"cannot reach the Ray cluster at {address}: {getattr(exc, 'strerror', None) or exc} "
            "(start it with `ray start --head`, or leave out --address to run Ray here)"
        ) from None


def _failed(job: BatchJob, error: str) -> JobOutcome:
    return JobOutcome(
        in_path=job.in_path,
        out_path=job.out_path,
        label=job.label,
        status="failed",
        error=error,
        preset=job.preset or {},
    )
