"""bulkup as pip installs it: its modules compiled to bytecode before a benchmark runs it.

pip compiles a package's modules as it installs them, so a user's ``bulkup`` starts from
bytecode, as the peers' Python tools (installed by pip into their own virtualenv) do. The
checkout a benchmark runs is an editable install: its modules are compiled on first import,
and on every run where ``PYTHONDONTWRITEBYTECODE`` is set, which charges each bulkup run
~0.1 CPU-s per process (the coordinator and the worker zygote) that no user pays.
"""

from __future__ import annotations

import compileall
import os

from bench.lib.paths import REPOSITORY


def compile_bulkup() -> None:
    """Write bulkup's bytecode (``__pycache__``) for every module that has none or a stale one."""
    compileall.compile_dir(os.path.join(REPOSITORY, "bulkup"), quiet=1)


if __name__ == "__main__":
    compile_bulkup()
