"""One declaration per option (rclone's fs.Option registry is the model).

An option is a field of an options dataclass (``UploadOptions``, ``SyncOptions``, ...) whose
metadata says everything else about it, once: its flags, how its text is read (a parser
raising ``ValueError`` with one line), its help and group, the commands that take it, and
the AWS CLI ``s3`` setting of a profile that can give it. The command line
(``cli.arguments``), the AWS config mapping (``options.profile``), ``bulkup doctor`` and the
options page (docs/options.md) are all made from these declarations.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Group(enum.Enum):
    """Where an option shows in ``--help``, in this order."""

    SOURCE = "what to send"
    DESTINATION = "where to"
    ATTRIBUTES = "object attributes"
    INTEGRITY = "integrity"
    SPEED = "speed"
    OUTPUT = "output"


UPLOADING = frozenset({"put", "sync", "migrate", "resume"})  # the commands that send
CONNECTING = UPLOADING | {"doctor", "cleanup", "ls"}  # the commands that reach a store
TREES = frozenset({"put", "sync", "manifest"})  # the commands that walk a directory


@dataclass(frozen=True, kw_only=True)
class Option:
    """What a field of an options dataclass is on the command line and in a profile."""

    flags: tuple[str, ...]  # the first is the option's name in messages and docs
    help: str
    group: Group
    commands: frozenset[str]
    parse: Callable[[str], Any] | None = None  # text -> value; ValueError (one line) if it cannot be
    action: Any = "store"  # argparse's: store, store_true, store_false, store_const, append, an Action
    const: Any = None
    nargs: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    collect: Callable[[Any], Any] | None = None  # what argparse gathered -> the field's value
    shown_default: str | None = None  # the default as help and docs say it, if not the field's
    aws: str | None = None  # the AWS CLI s3 setting that gives it, in a profile
    from_aws: Callable[[str, Any], Any] | None = None  # (the setting's text, the options) -> value
    command_flags: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (command, more flags it takes)
    valid: Callable[[Any], bool] | None = None  # whether a value (from a flag, a profile, the API) can work
    must: str = ""  # what ``valid`` asks, for the one line that refuses a value: "be at least 1"

    @property
    def name(self) -> str:
        return self.flags[0]

    def flags_for(self, command: str) -> tuple[str, ...]:
        """The flags ``command`` takes for this option (its own aliases included)."""
        return self.flags + sum((more for cmd, more in self.command_flags if cmd == command), ())


def option(default: Any = None, **spec: Any) -> Any:
    """A dataclass field declared as an option (``spec``: the ``Option``'s fields). A list or
    dict default is copied for each instance."""
    declared = Option(**spec)
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"option": declared})
    return dataclasses.field(default=default, metadata={"option": declared})


def declared(cls: type) -> list[tuple[str, Option]]:
    """Every (field name, Option) of an options dataclass, in declaration order."""
    return [(f.name, f.metadata["option"]) for f in dataclasses.fields(cls) if "option" in f.metadata]


def default_of(cls: type, name: str) -> Any:
    """The default of field ``name`` of an options dataclass."""
    found = next(f for f in dataclasses.fields(cls) if f.name == name)
    if found.default_factory is not dataclasses.MISSING:
        return found.default_factory()
    return found.default


def whole(low: int, high: int) -> Callable[[Any], bool]:
    """A ``valid`` for a whole number between ``low`` and ``high``."""
    return lambda n: isinstance(n, int) and not isinstance(n, bool) and low <= n <= high


def number(low: float, high: float, above_low: bool = False) -> Callable[[Any], bool]:
    """A ``valid`` for a number between ``low`` (or above it) and ``high``."""

    def valid(n: Any) -> bool:
        if isinstance(n, bool) or not isinstance(n, int | float) or n != n:  # noqa: PLR0124 (NaN)
            return False
        return (n > low if above_low else n >= low) and n <= high

    return valid
