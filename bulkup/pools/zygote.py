"""The worker zygote: one fresh interpreter imports the worker's modules once, then forks
every local worker from there (as multiprocessing's forkserver does), so that W workers cost
one interpreter start and one import (~0.13 s of CPU each) instead of W.

The zygote is a fresh ``python -m bulkup.pools.zygote`` (never a fork of the caller: a
caller's script is not re-imported, and no thread or lock of the coordinator is inherited);
it runs one thread, so each fork is clean. On its control socket the launcher sends one byte
per worker with the worker's end of a socket pair attached (SCM_RIGHTS); the zygote answers
``pid N`` once it forked and ``exit N CODE`` when that worker ended (CODE as ``subprocess``
gives it: minus the signal's number when killed). The zygote ends when the launcher closes
the control socket, once its workers have ended.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time

POLL = 0.05  # seconds between checks for ended workers, when nothing else wakes us


def main(argv: list[str]) -> int:
    """``python -m bulkup.pools.zygote FD``: fork workers on request from the socket FD."""
    from bulkup import classcache

    classcache.install(save_at_exit=False)  # the zygote ends without running exit handlers
    from bulkup.transport import worker  # the imports every worker would otherwise repeat

    worker.preload()
    classcache.save()

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator handles Ctrl-C
    control = socket.socket(fileno=int(argv[1]))
    children: set[int] = set()
    open_ = True
    while open_ or children:
        if open_ and select.select([control], [], [], POLL)[0]:
            try:
                data, fds, _, _ = socket.recv_fds(control, 1, 1)
            except OSError:
                data, fds = b"", []
            if not data:
                open_ = False
            for fd in fds:
                pid = os.fork()
                if pid == 0:
                    control.close()
                    code = 1
                    try:
                        code = worker.main(["worker", str(fd)])
                    finally:
                        os._exit(code)
                os.close(fd)
                children.add(pid)
                _tell(control, f"pid {pid}")
        elif not open_:
            time.sleep(POLL)
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                _tell(control, f"exit {pid} {_returncode(status)}")
    return 0


def _returncode(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _tell(control: socket.socket, line: str) -> None:
    try:
        control.sendall(line.encode() + b"\n")
    except OSError:
        pass  # the launcher is gone: its workers end on their own pipes' end


class Zygote:
    """The launcher's side: starts the zygote and asks it for workers."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bulkup.pools.zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._control = ours
        self._buffer = b""
        self.exits: dict[int, int] = {}  # pid -> return code, of workers that ended
        self.pids: list[int] = []  # forked, in the order asked
        self._asked = 0

    def fork(self, fd: int) -> ForkedWorker:
        """A worker serving the socket ``fd`` (the worker's end of its pair); returns at once,
        while the zygote may still be importing."""
        socket.send_fds(self._control, [b"w"], [fd])
        self._asked += 1
        return ForkedWorker(self._asked - 1, self)

    def update(self, block: bool = False) -> None:
        """Take in what the zygote said (``exit`` lines) without waiting, or waiting for one."""
        self._read(block)

    def _read(self, block: bool) -> None:
        self._control.setblocking(block)
        try:
            data = self._control.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        finally:
            self._control.setblocking(True)
        if not data:
            raise ChildProcessError("the worker zygote ended")
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            kind, *values = line.decode().split()
            if kind == "pid":
                self.pids.append(int(values[0]))
            elif kind == "exit":
                self.exits[int(values[0])] = int(values[1])

    def close(self) -> None:
        """No more workers: the zygote ends once those it forked have ended."""
        self._control.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ForkedWorker:
    """A worker forked by the zygote, with what ``subprocess.Popen`` offers the pool."""

    def __init__(self, order: int, zygote: Zygote) -> None:
        self._order = order  # the how-manieth fork asked of the zygote
        self._zygote = zygote

    @property
    def pid(self) -> int:
        while len(self._zygote.pids) <= self._order:
            self._zygote.update(block=True)
        return self._zygote.pids[self._order]

    def poll(self) -> int | None:
        try:
            self._zygote.update()
            pid = self.pid
        except ChildProcessError:
            known = self._pid_if_known()
            return -signal.SIGKILL if known is None else self._zygote.exits.get(known, -signal.SIGKILL)
        return self._zygote.exits.get(pid)

    def _pid_if_known(self) -> int | None:
        pids = self._zygote.pids
        return pids[self._order] if len(pids) > self._order else None

    def wait(self, timeout: float | None = None) -> int:
        started = time.monotonic()
        while (code := self.poll()) is None:
            if timeout is not None and time.monotonic() >= started + timeout:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
            time.sleep(0.01)
        return code

    def kill(self) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
