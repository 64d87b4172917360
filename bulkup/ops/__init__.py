"""The operations a user runs: ``put``, ``sync`` and ``migrate``, siblings built from the
same steps (``steps``): plan the jobs, ask the store what it verifies and keeps, run the
jobs through the workers, judge the outcome. The Python API and the command line are thin
over them; every operation receives its settings resolved once (``options.resolve``)."""
