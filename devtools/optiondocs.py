"""docs/options.md, made from the option declarations: ``python -m devtools.optiondocs``
writes it, and the suite checks that it is current."""

from __future__ import annotations

import pathlib
import sys

from bulkup.cli.arguments import help_text
from bulkup.cli.commands import COMMANDS as DECLARED_COMMANDS
from bulkup.options.registry import Group, declared

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "options.md"
# Every option class the commands take, in the order the commands first name them.
CLASSES = tuple(dict.fromkeys(cls for command in DECLARED_COMMANDS for cls in command.options))
COMMANDS = tuple(command.name for command in DECLARED_COMMANDS)


def render() -> str:
    """The whole page: one table per group, every option of every command."""
    lines = [
        "# Options",
        "",
        "Made from the options' declarations (`bulkup/options/declared.py`, and the object",
        "attributes' table in `bulkup/plan/attributes.py`) by `python -m devtools.optiondocs`;",
        "`bulkup COMMAND --help` shows the same, for one command. A profile's AWS CLI `s3`",
        "setting gives an option where no flag does; `bulkup doctor` says where each came from.",
    ]
    lines += ["", "## Commands", "", "| command | what it does | example |", "|---|---|---|"]
    for command in DECLARED_COMMANDS:
        example = f"`{command.examples[0]}`" if command.examples else ""
        lines.append(f"| `bulkup {command.name}` | {command.help} | {example} |")
    rows = [(opt, cls, name) for cls in CLASSES for name, opt in declared(cls)]
    for group in Group:
        found = [row for row in rows if row[0].group is group]
        if not found:
            continue
        lines += [
            "",
            f"## {group.value.capitalize()}",
            "",
            "| option | commands | what it does | profile setting |",
            "|---|---|---|---|",
        ]
        for opt, cls, name in found:
            flags = ", ".join(f"`{flag}`" for flag in _all_flags(opt))
            if opt.metavar:
                flags += f" {opt.metavar}"
            elif opt.choices:
                flags += " " + "\\|".join(opt.choices)
            commands = ", ".join(c for c in COMMANDS if c in opt.commands)
            what = help_text(cls, name, opt).replace("|", "\\|")
            lines.append(f"| {flags} | {commands} | {what} | {f'`{opt.aws}`' if opt.aws else ''} |")
    return "\n".join(lines) + "\n"


def _all_flags(opt) -> list[str]:
    flags = list(opt.flags)
    for _, more in opt.command_flags:
        flags += [flag for flag in more if flag not in flags]
    return flags


def main() -> int:
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render())
    print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
