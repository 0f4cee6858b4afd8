"""Real components for the cluster tests: a network namespace with only loopback, a moto S3
server process and a two-node Ray cluster inside it. Everything is started as its own process
group and stopped by that id.

Ray on this machine advertises the machine's interface address even when told 127.0.0.1; in a
namespace that has nothing but ``lo`` it binds to 127.0.0.1, so no test traffic leaves loopback.
Creating the namespace needs root (``unshare --net``) and the ``ip`` and ``nsenter`` tools.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
S3_TOOL = HERE / "s3_tool.py"
MOTO_PORT = 5055
RAY_PORT = 6390
#: Fast detection of a dead node (the defaults take tens of seconds).
RAY_HEALTH_ENV = {
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
    "RAY_USAGE_STATS_ENABLED": "0",
    # Ray 2.60 turns token authentication on for a head node whenever ~/.ray/auth_token exists (a
    # local `ray.init()` writes one) but not for the nodes joining it, which then cannot join
    "RAY_AUTH_MODE": "disabled",
}


def missing_requirements() -> str | None:
    """Why the cluster tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root for `unshare --net`"
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"needs the `{tool}` tool (util-linux / iproute2)"
    for module in ("ray", "s3fs", "moto", "boto3"):
        try:
            __import__(module)
        except ImportError:
            return f"needs {module} (pip install 'audiomanip[cluster]')"
    return None


def stop_process(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the process group ``proc`` leads, then SIGKILL what is left."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace_s)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class Namespace:
    """A network namespace holding only an up ``lo``, kept alive by a sleeping process."""

    def __init__(self) -> None:
        self.holder = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", "ip link set lo up && exec sleep 100000"], start_new_session=True
        )
        deadline = time.monotonic() + 10
        while "UP" not in self.run(["ip", "link", "show", "lo"], capture_output=True, text=True).stdout:
            if time.monotonic() > deadline:
                raise RuntimeError("the network namespace did not come up")
            time.sleep(0.05)
        self.started: list[subprocess.Popen] = []

    def argv(self, args: list[str]) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", *map(str, args)]

    def run(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        kw.setdefault("check", False)
        return subprocess.run(self.argv(args), **kw)  # noqa: PLW1510 - check is in kw

    def popen(self, args: list[str], **kw) -> subprocess.Popen:
        proc = subprocess.Popen(self.argv(args), start_new_session=True, **kw)
        self.started.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.started):
            stop_process(proc)
        stop_process(self.holder)

    def wait_port(self, port: int, timeout_s: float = 60.0) -> None:
        code = (
            "import socket,sys,time\n"
            f"end=time.time()+{timeout_s}\n"
            "while time.time()<end:\n"
            f"    try: socket.create_connection(('127.0.0.1',{port}),0.5).close(); sys.exit(0)\n"
            "    except OSError: time.sleep(0.1)\n"
            "sys.exit(1)\n"
        )
        if self.run([sys.executable, "-c", code]).returncode:
            raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class S3Server:
    """moto in server mode on 127.0.0.1 inside the namespace, with IAM enforced (after the
    set-up calls) so that a policy can make it refuse writes."""

    def __init__(self, ns: Namespace, log: Path) -> None:
        self.ns = ns
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
        self.proc = ns.popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(MOTO_PORT)],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        ns.wait_port(MOTO_PORT)
        self.url = f"http://127.0.0.1:{MOTO_PORT}"
        self.keys = self.tool("iam", {"deny_put": "arn:aws:s3:::bucket1/denied/*.wav"})

    def env(self) -> dict[str, str]:
        """The usual AWS variables pointing s3fs/botocore at this server."""
        return {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.keys["id"],
            "AWS_SECRET_ACCESS_KEY": self.keys["secret"],
            "AWS_ENDPOINT_URL_S3": self.url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "OMP_NUM_THREADS": "1",
        }

    def tool(self, command: str, args: dict) -> dict:
        """Run a command of tests/s3_tool.py inside the namespace; its JSON answer."""
        env = {**os.environ, "S3_URL": self.url}
        if getattr(self, "keys", None):
            env.update(AWS_ACCESS_KEY_ID=self.keys["id"], AWS_SECRET_ACCESS_KEY=self.keys["secret"])
        res = self.ns.run(
            [sys.executable, S3_TOOL, command, json.dumps(args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if res.returncode:
            raise RuntimeError(f"s3_tool {command} failed: {res.stderr[-2000:]}")
        return json.loads(res.stdout)


class RayCluster:
    """A head node and a worker node (1 CPU each) on 127.0.0.1 inside the namespace, started
    with the environment :data:`RAY_HEALTH_ENV` and no other options, unless ``env`` and
    ``extra_args`` (for ``ray start``) are given."""

    def __init__(
        self, ns: Namespace, log_dir: Path, env: dict[str, str] | None = None, extra_args: list[str] = ()
    ) -> None:
        self.ns = ns
        self.env = RAY_HEALTH_ENV if env is None else env
        self.extra_args = list(extra_args)
        self.log_dir = log_dir
        self.temp = tempfile.mkdtemp(prefix="rayt", dir="/tmp")  # short: Ray's socket paths are limited
        self.address = f"127.0.0.1:{RAY_PORT}"
        self.head = self._start(
            ["--head", "--port", RAY_PORT, "--include-dashboard", "false", "--temp-dir", self.temp], "head"
        )
        ns.wait_port(RAY_PORT)
        self.worker = self.start_worker()

    def _start(self, extra: list, name: str) -> subprocess.Popen:
        args = [
            sys.executable, "-m", "ray.scripts.scripts", "start", *extra,
            "--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--object-store-memory", "100000000",
            "--disable-usage-stats", "--block", *self.extra_args,
        ]  # fmt: skip
        log = (self.log_dir / f"ray_{name}.log").open("ab")
        return self.ns.popen(args, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT)

    def start_worker(self) -> subprocess.Popen:
        worker = self._start(["--address", self.address], "worker")
        self.wait_cpus(2)
        return worker

    def wait_cpus(self, n: int, timeout_s: float = 90.0) -> None:
        code = (
            "import ray,sys,time\n"
            f"ray.init(address='{self.address}', logging_level='ERROR')\n"
            f"end=time.time()+{timeout_s}\n"
            f"while ray.cluster_resources().get('CPU',0)<{n} and time.time()<end: time.sleep(0.2)\n"
            f"sys.exit(0 if ray.cluster_resources().get('CPU',0)>={n} else 1)\n"
        )
        if self.ns.run([sys.executable, "-c", code], capture_output=True).returncode:
            raise RuntimeError(f"the Ray cluster did not reach {n} CPUs")

    def kill_worker(self) -> None:
        """The worker node dies at once (SIGKILL to its whole process group)."""
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()

    def close(self) -> None:
        for proc in (self.worker, self.head):
            stop_process(proc)
        shutil.rmtree(self.temp, ignore_errors=True)
