"""The command line's options, made from their declarations (``options.registry``): each
command gets the options that name it, in groups, and the flags given become an options
object (only the flags given: a resumed migration keeps what its journal recorded)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, cast

from bulkup.options.registry import Group, Option, declared, default_of

T = TypeVar("T")


class FilterRule(argparse.Action):
    """``--exclude P`` / ``--include P``: appended in the order given, to one list."""

    def __call__(self, parser: Any, namespace: Any, value: Any, option_string: str | None = None) -> None:
        rules = list(getattr(namespace, self.dest, None) or [])
        rules.append(((option_string or "--exclude").lstrip("-"), value))
        setattr(namespace, self.dest, rules)


def add_options(parser: argparse.ArgumentParser, command: str, *classes: type) -> None:
    """Add every option of ``classes`` that ``command`` takes, grouped as declared."""
    chosen = [(cls, name, opt) for cls in classes for name, opt in declared(cls) if command in opt.commands]
    groups = {
        group: parser.add_argument_group(f"{group.value}")
        for group in Group
        if any(opt.group is group for _, _, opt in chosen)
    }
    for cls, name, opt in chosen:
        groups[opt.group].add_argument(*opt.flags_for(command), **_argument(cls, name, opt))


def _argument(cls: type, name: str, opt: Option) -> dict[str, Any]:
    found: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text(cls, name, opt)}
    found["action"] = FilterRule if opt.action == "filter" else opt.action
    if opt.parse is not None:
        found["type"] = _typed(opt.parse, opt.name)
    for key in ("choices", "metavar", "nargs", "const"):
        if (value := getattr(opt, key)) is not None:
            found[key] = value
    return found


def help_text(cls: type, name: str, opt: Option) -> str:
    """The option's help, with its default where it has one worth saying."""
    default = opt.shown_default
    if default is None:
        value = default_of(cls, name)
        if value not in (None, False, True, [], {}):
            default = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{opt.help} (default: {default})" if default else opt.help


def _typed(parse: Callable[[str], Any], flag: str) -> Callable[[str], Any]:
    """An argparse type from a parser that raises ValueError: argparse names the option."""

    def typed(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    typed.__name__ = flag.lstrip("-")
    return typed


def given(args: argparse.Namespace, cls: type) -> set[str]:
    """The fields of ``cls`` whose flags were given."""
    return {name for name, _ in declared(cls) if hasattr(args, name)}


def options_from(args: argparse.Namespace, cls: type[T], base: T | None = None) -> T:
    """An options object of ``cls`` from the flags given, over ``base`` (else the defaults)."""
    values = {}
    for name, opt in declared(cls):
        if hasattr(args, name):
            value = getattr(args, name)
            values[name] = opt.collect(value) if opt.collect is not None else value
    start: Any = base if base is not None else cls()
    return cast(T, dataclasses.replace(start, **values))
