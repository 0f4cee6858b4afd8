"""The supervised worker pool on its own, with real worker processes that really die."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from audiomanip.batch.worker_pool import death_reason, run_supervised


def work(item: tuple[str, object]) -> object:
    """("ok", n) → 10 n; ("once", path) → dies (SIGKILL) unless ``path`` exists, which it then
    creates; ("always", n) → dies; ("raise", n) → ValueError."""
    kind, arg = item
    if kind == "once":
        marker = Path(str(arg))
        if not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return "second time lucky"
    if kind == "always":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "raise":
        raise ValueError(f"bad item\n{arg}")
    return 10 * int(arg)


@pytest.fixture(params=["forkserver", "fork"])
def context(request):
    """The batch engine uses both: fork of a parent with one thread, else the fork server."""
    methods = multiprocessing.get_all_start_methods()
    if request.param not in methods:
        if request.param == "fork":
            pytest.skip("no fork here")
        return multiprocessing.get_context("spawn")
    return multiprocessing.get_context(request.param)


def test_a_dead_workers_item_is_retried_once_then_given_up(tmp_path, context):
    items = [("ok", 1), ("always", 0), ("once", tmp_path / "m"), ("ok", 2), ("raise", 7), ("ok", 3)]
    cleaned: list[tuple[str, int]] = []
    results = list(
        run_supervised(
            items, work, workers=2, context=context, on_death=lambda item, pid: cleaned.append((item[0], pid))
        )
    )
    by_item = {r.index: r for r in results}
    assert sorted(by_item) == list(range(len(items)))  # every item exactly once
    for i, n in ((0, 1), (3, 2), (5, 3)):
        assert (by_item[i].value, by_item[i].error, by_item[i].attempts, by_item[i].deaths) == (
            10 * n,
            None,
            1,
            [],
        )
    always = by_item[1]
    assert always.value is None and always.attempts == 2
    assert always.deaths == ["killed by signal 9 (SIGKILL)"] * 2
    assert always.error == "worker died twice (killed by signal 9 (SIGKILL): out of memory?)"
    once = by_item[2]
    assert (once.value, once.error, once.attempts) == ("second time lucky", None, 2)
    assert once.deaths == ["killed by signal 9 (SIGKILL)"]
    raised = by_item[4]
    assert raised.error == "ValueError: bad item 7" and raised.deaths == [] and raised.attempts == 1
    # the caller heard of each death, with the dead process's id
    assert sorted(kind for kind, _ in cleaned) == ["always", "always", "once"]
    assert len({pid for _, pid in cleaned}) == 3


def test_death_reasons_in_words():
    assert death_reason(-9) == "killed by signal 9 (SIGKILL)"
    assert death_reason(-15) == "killed by signal 15 (SIGTERM)"
    assert death_reason(3) == "exit code 3"
