"""Which files of a tree are uploaded: ``--exclude`` / ``--include`` as the AWS CLI has them.

Every file is included unless a rule says otherwise; the rules are applied in the order
given and the last one that matches decides (``--exclude "*" --include "*.jpg"``: only the
JPEGs). A pattern is matched against the file's path relative to the source directory (for
a file given directly, its name), with ``/`` between directories, by shell-style wildcards
in which ``*`` and ``?`` also match ``/`` and a leading dot (``*`` matches ``a/.b``).
Matching is case-sensitive.

rclone differs: its first matching rule decides, and its ``*`` stops at ``/``. bulkup follows
the AWS CLI, as its option names do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import translate
from typing import Literal, cast

Action = Literal["include", "exclude"]


@dataclass(frozen=True)
class Rule:
    """One ``--include`` or ``--exclude`` pattern."""

    action: Action
    pattern: str

    def __post_init__(self) -> None:
        if self.action not in ("include", "exclude"):
            raise ValueError(f"a filter rule is 'include' or 'exclude', not {self.action!r}")
        if not self.pattern:
            raise ValueError(f"--{self.action} needs a pattern")

    def __str__(self) -> str:
        return f"--{self.action} {self.pattern!r}"


@dataclass(frozen=True)
class Filters:
    """The rules of a run, in order; no rules selects every file."""

    rules: tuple[Rule, ...] = ()
    _compiled: tuple[tuple[bool, re.Pattern[str]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = tuple((r.action == "include", re.compile(translate(r.pattern))) for r in self.rules)
        object.__setattr__(self, "_compiled", compiled)

    @classmethod
    def of(cls, rules: Iterable[Rule | tuple[str, str]]) -> Filters:
        """Filters from rules or ``(action, pattern)`` pairs, in order."""
        # A pair's action is any text until Rule checks it.
        return cls(tuple(r if isinstance(r, Rule) else Rule(cast(Action, r[0]), r[1]) for r in rules))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def admits(self, relative_path: str) -> bool:
        """Whether the file at ``relative_path`` (``/``-separated) is uploaded."""
        admitted = True
        for include, pattern in self._compiled:
            if pattern.match(relative_path):
                admitted = include
        return admitted


NO_FILTERS = Filters()


@dataclass
class Selection:
    """Filters applied to the files of a run, and how many they left out."""

    filters: Filters = NO_FILTERS
    excluded: int = 0

    def admits(self, relative_path: str) -> bool:
        if not self.filters or self.filters.admits(relative_path):
            return True
        self.excluded += 1
        return False
