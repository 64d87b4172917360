"""The commands, declared once: name, help, arguments, the option classes they take, examples,
and the module that runs them. The parser is built from this table alone, so ``--help``
and Tab completion import no command's code (nor boto3): a command's module is imported
when it runs."""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass, field
from typing import Any

from bulkup.cli.arguments import add_options
from bulkup.options.declared import (
    CleanupOptions,
    DoctorOptions,
    ListOptions,
    ManifestOptions,
    MigrateOptions,
    OutputOptions,
    SyncOptions,
    UploadOptions,
)

BUCKET_PREFIX = "s3://bucket/prefix/"


@dataclass(frozen=True)
class Argument:
    """A positional argument: its name in the parsed arguments, and argparse's keywords."""

    dest: str
    metavar: str
    nargs: str | None = None
    help: str | None = None


@dataclass(frozen=True)
class Command:
    """One ``bulkup`` command."""

    name: str
    help: str  # one line, in ``bulkup --help``
    runs: str  # "module:function" under bulkup.cli that runs it, given the parsed arguments
    arguments: tuple[Argument, ...]
    options: tuple[type, ...]  # option classes whose options name this command
    description: str | None = None
    examples: tuple[str, ...] = field(default=())

    def handler(self) -> Any:
        """The function that runs the command (its module imported now)."""
        module, function = self.runs.split(":")
        return getattr(importlib.import_module(f"bulkup.cli.{module}"), function)


COMMANDS = (
    Command(
        "put",
        "upload files and directory trees",
        "put:run",
        (Argument("sources", "SRC", nargs="+"), Argument("destination", BUCKET_PREFIX)),
        (UploadOptions, OutputOptions),
        description="Upload files and directory trees to s3://bucket/prefix/.",
        examples=(
            "bulkup put ./photos s3://my-bucket/photos/",
            "bulkup put big.iso s3://my-bucket/isos/ --checksum crc32c --require-verified",
            "tar c dir | bulkup put - s3://my-bucket/backups/dir.tar",
        ),
    ),
    Command(
        "sync",
        "upload what is new or changed; with --delete, remove what is gone",
        "sync:run",
        (Argument("source", "DIR"), Argument("destination", BUCKET_PREFIX)),
        (SyncOptions, UploadOptions, OutputOptions),
        description="Upload the files of DIR that are new or changed under s3://bucket/prefix/ "
        "(size, then the mtime bulkup recorded, or the object's time; see --compare), and with "
        "--delete remove the objects under the prefix whose file is gone.",
        examples=(
            "bulkup sync ./site s3://my-bucket/site/",
            "bulkup sync ./site s3://my-bucket/site/ --delete --dry-run",
        ),
    ),
    Command(
        "migrate",
        "upload everything a manifest lists, resumably",
        "migrate:run_migrate",
        (Argument("manifest", "MANIFEST"),),
        (MigrateOptions, UploadOptions, OutputOptions),
        description="Upload every object a manifest (JSON Lines or CSV, see manifests/README.md) "
        "lists. A journal beside it records every step; running the same command again, or "
        "`bulkup resume JOURNAL`, continues after Ctrl-C, a crash or a reboot.",
        examples=(
            "bulkup migrate data.jsonl    # made by: bulkup manifest ./data s3://my-bucket/data/ -o data.jsonl",
            "bulkup migrate data.jsonl    # again after Ctrl-C or a crash: it resumes",
        ),
    ),
    Command(
        "resume",
        "continue a migration from its journal",
        "migrate:run_resume",
        (Argument("journal", "JOURNAL"),),
        (MigrateOptions, UploadOptions, OutputOptions),
        description="Continue the migration recorded in JOURNAL, with the options it last ran "
        "with; options given here override them.",
        examples=("bulkup resume data.jsonl.journal", "bulkup resume data.jsonl.journal --workers 4"),
    ),
    Command(
        "status",
        "show a migration's progress from its journal",
        "migrate:run_status",
        (Argument("journal", "JOURNAL"),),
        (DoctorOptions,),
        examples=("bulkup status data.jsonl.journal", "bulkup status data.jsonl.journal --json"),
    ),
    Command(
        "ls",
        "list what a bucket holds under a prefix (or your buckets)",
        "ls:run",
        (Argument("target", "s3://bucket/prefix/", nargs="?", help="where to list (none: your buckets)"),),
        (ListOptions, UploadOptions),
        description="List the objects and the folders (common prefixes) one level under "
        "s3://bucket/prefix/, or every key under it with --recursive, as aws s3 ls does.",
        examples=(
            "bulkup ls s3://my-bucket/photos/",
            "bulkup ls s3://my-bucket/photos/ --recursive --summarize --human-readable",
            "bulkup ls",
        ),
    ),
    Command(
        "manifest",
        "write a JSON Lines manifest of a directory tree",
        "manifest:run",
        (Argument("directory", "DIR"), Argument("destination", BUCKET_PREFIX)),
        (UploadOptions, ManifestOptions),
        description="Write a manifest (JSON Lines) of every file under DIR, destined for "
        "s3://bucket/prefix/, to standard output or FILE.",
        examples=("bulkup manifest ./data s3://my-bucket/data/ -o data.jsonl",),
    ),
    Command(
        "doctor",
        "which data path uploads take here and why; with s3://bucket/prefix/, what the credentials may do there",
        "doctor:run",
        (
            Argument(
                "store",
                "s3://bucket/prefix/",
                nargs="?",
                help="ask the store (--endpoint-url, or AWS): whose the credentials are, whether the bucket exists "
                "and can be listed, whether an object can be written under the prefix (a .bulkup-doctor- key) and "
                "deleted, which checksums it verifies (a multipart upload aborted at once), and the data path",
            ),
        ),
        (DoctorOptions, UploadOptions),
        examples=(
            "bulkup doctor",
            "bulkup doctor s3://my-bucket/backups/",
            "bulkup doctor s3://my-bucket/ --endpoint-url https://127.0.0.1:8333 --ca-bundle ca.pem",
        ),
    ),
    Command(
        "cleanup",
        "list or remove stale multipart uploads and leftover probe objects",
        "cleanup:run",
        (
            Argument(
                "target",
                "s3://bucket[/prefix]",
                help="bucket and key prefix (a plain string prefix: s3://b/logs also "
                "matches logs2/...; end it with / to mean a folder)",
            ),
        ),
        (CleanupOptions, UploadOptions),
        description="List the multipart uploads under s3://bucket/prefix initiated longer ago "
        "than --older-than, with the parts and bytes each holds on the server, and the objects "
        "bulkup's probes left there (a store refused their delete, or the run was killed); with "
        "--yes, abort and delete them. Without --yes nothing is changed.",
        examples=("bulkup cleanup s3://my-bucket/", "bulkup cleanup s3://my-bucket/ --older-than 1h --yes"),
    ),
)
BY_NAME = {command.name: command for command in COMMANDS}


class Formatter(argparse.HelpFormatter):
    """argparse's help, with lines indented by two spaces (the examples) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(
            indent + line if line.startswith("  ") else super(Formatter, self)._fill_text(line, width, indent)
            for line in text.splitlines()
        )


def add_commands(subparsers: argparse._SubParsersAction, only: str | None = None) -> None:
    """Every command on ``subparsers``, with its arguments, options and examples (``only``:
    that command's alone, the others named and described: adding every command's options
    costs a run ~30 ms it does not need)."""
    for command in COMMANDS:
        epilog = "examples:\n" + "\n".join(f"  {line}" for line in command.examples) if command.examples else None
        parser = subparsers.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help[:1].upper() + command.help[1:] + ".",
            epilog=epilog,
            formatter_class=Formatter,
        )
        parser.set_defaults(command=command.name)
        if only is not None and command.name != only:
            continue
        for argument in command.arguments:
            keywords: dict[str, Any] = {"metavar": argument.metavar, "help": argument.help}
            if argument.nargs is not None:
                keywords["nargs"] = argument.nargs
            parser.add_argument(argument.dest, **keywords)
        add_options(parser, command.name, *command.options)


def overview_examples() -> str:
    """The examples ``bulkup --help`` ends with: the first of each command that sends or lists."""
    shown = [c.examples[0] for c in COMMANDS if c.name in ("put", "sync", "migrate", "ls", "doctor") and c.examples]
    lines = "\n".join(f"  {line}" for line in shown)
    return f"examples:\n{lines}\n\nbulkup COMMAND --help: a command's options, in groups, and more examples"
