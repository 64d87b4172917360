"""The ``bulkup`` command line: one module per command, and the options they share."""

from bulkup import classcache

classcache.install()  # before the commands' modules make their dataclasses
