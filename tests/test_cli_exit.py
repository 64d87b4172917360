"""The command line ends without finalizing every module, but as a normal exit would end it:
its output flushed, its exit handlers run, its exit status kept, and a thread that is no
daemon finished first."""

import subprocess
import sys


def ended(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_the_output_is_flushed_and_the_exit_handlers_run_once():
    proc = ended(
        "import atexit, sys; atexit.register(print, 'handler');"
        "from bulkup.cli.main import end; print('out', end=''); sys.stderr.write('err'); end(3)"
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "outhandler\n", "err")


def test_a_thread_that_is_no_daemon_finishes_before_the_process_ends():
    proc = ended(
        "import threading; from bulkup.cli.main import end;"
        "go = threading.Event();"
        "threading.Thread(target=lambda: (go.wait(), print('thread finished'))).start();"
        "go.set(); end(0)"
    )
    assert (proc.returncode, proc.stdout) == (0, "thread finished\n")
