"""A Ray cluster on loopback, for tests and benchmarks: a head and worker nodes on this machine.

Every node has ``cpus`` CPUs (so that many bulkup actors by default) and a custom resource
named after it ("head", "node_b", ...), which manifests can pin objects to. Node processes
are children of this process and are all stopped on exit, even if Ray's own shutdown fails.
Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile

from devtools.timescale import scaled

NODE_READY_TIMEOUT = 30.0  # seconds for a node to join (Ray's own wait), on a usual machine
WORKER_REGISTER_TIMEOUT = 60.0  # seconds for a worker process to start (Ray's default)

# Ray on loopback: keep 127.0.0.1 as every node's address (do not swap in the outward one),
# and send no usage statistics anywhere.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


class LocalRayCluster:
    """``with LocalRayCluster(["node_b", "node_c"]) as cluster:`` -> ``cluster.address``."""

    def __init__(self, workers: list[str], cpus: int = 1) -> None:
        self.worker_names = workers
        self.cpus = cpus
        self.nodes: dict[str, object] = {}
        self.temp_dir = tempfile.mkdtemp(prefix="bulkup-ray-")
        self._saved_env: dict[str, str | None] = {}

    def __enter__(self) -> LocalRayCluster:
        # Ray notes the newest cluster's address under RAY_TMPDIR: keep that note in this
        # cluster's own directory, away from the machine's real clusters.
        os.makedirs(os.path.join(self.temp_dir, "ray"))
        for name, value in self.env().items():
            self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        from ray.cluster_utils import Cluster

        self.cluster = Cluster(
            initialize_head=True,
            head_node_args=dict(
                wait=False,
                num_cpus=self.cpus,
                resources={"head": 1},
                node_ip_address="127.0.0.1",
                include_dashboard=False,
                temp_dir=self.temp_dir,
            ),
        )
        self.nodes["head"] = self._joined(self.cluster.head_node)
        for name in self.worker_names:
            self.add_node(name)

    def __exit__(self, *exc: object) -> None:
        pids = self._all_pids()
        try:
            if hasattr(self, "cluster"):
                self.cluster.shutdown()
        finally:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            for name, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    @property
    def address(self) -> str:
        return self.cluster.address

    def env(self) -> dict[str, str]:
        """The environment a driver of this cluster runs with (its nodes start in it too:
        Ray's wait for a worker process to start is scaled to the machine)."""
        register = str(round(scaled(WORKER_REGISTER_TIMEOUT)))
        return {**RAY_ENV, "RAY_TMPDIR": self.temp_dir, "RAY_worker_register_timeout_seconds": register}

    def add_node(self, name: str, **node_args):
        """A node named ``name``, once it has joined; ``node_args`` as Ray's (``env_vars``
        for its processes)."""
        node = self.cluster.add_node(
            wait=False, num_cpus=self.cpus, resources={name: 1}, node_ip_address="127.0.0.1", **node_args
        )
        self.nodes[name] = node
        return self._joined(node)

    def _joined(self, node):
        """``node``, once the cluster lists it (Ray's wait, with a deadline scaled to the machine)."""
        self.cluster._wait_for_node(node, timeout=scaled(NODE_READY_TIMEOUT))
        return node

    def crash_node(self, name: str) -> None:
        """The node's machine dies: its workers and its raylet are killed at once."""
        workers = self.worker_pids(name)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        self.cluster.remove_node(self.nodes.pop(name), allow_graceful=False)

    def raylet_pid(self, name: str) -> int:
        return self.nodes[name].all_processes["raylet"][0].process.pid

    def node_of_pid(self, pid: int) -> str | None:
        """The node whose raylet started process ``pid`` (Ray's workers are its children)."""
        parents = set(_ancestors(pid))
        return next((name for name in self.nodes if self.raylet_pid(name) in parents), None)

    def worker_pids(self, name: str) -> list[int]:
        """The bulkup actors' processes on one node."""
        out = subprocess.run(
            ["ps", "-o", "pid=,args=", "--ppid", str(self.raylet_pid(name))], capture_output=True, text=True
        ).stdout
        return [int(line.split()[0]) for line in out.splitlines() if "RaySender" in line]

    def _all_pids(self) -> list[int]:
        pids = []
        for node in self.nodes.values():
            for processes in node.all_processes.values():
                pids += [p.process.pid for p in processes if p.process is not None]
        return pids


def _ancestors(pid: int) -> list[int]:
    found = []
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        found.append(pid)
    return found
