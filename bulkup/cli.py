"""The ``bulkup`` command line."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys

from . import __version__, redact
from .api import UploadOptions, upload
from .checksums import ALGORITHMS, DEFAULT_ALGORITHM
from .report import write_json
from .results import UploadResult
from .engines import ENGINES
from .errors import BulkupError
from .plan import choose_part_size, is_multipart, parse_size
from .progress import CHOICES, ProgressSink, human_bytes, make_progress

# An upload outlives its reader: `bulkup put ... --progress json | head` finishes the upload.
UPLOADING_COMMANDS = ("put", "migrate", "resume")
INSECURE_WARNING = ("WARNING: TLS certificate verification is OFF (--no-verify-ssl). Anyone on "
                    "the network path can read and alter this upload. Use --ca-bundle instead.")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command not in UPLOADING_COMMANDS:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)     # `bulkup doctor | head` ends quietly
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
        logging.addLevelName(level, logging.getLevelName(level).lower())   # bulkup: warning: ...
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="bulkup: %(levelname)s: %(message)s")
    redact.install()
    if not args.debug:
        # Their warnings repeat what our one-line error says (certificate dumps included).
        for name in ("botocore", "urllib3"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        return args.func(args)
    except BulkupError as exc:
        print(f"bulkup: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bulkup: interrupted: open multipart uploads were aborted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bulkup", description="Fast, verified bulk uploads to S3.")
    parser.add_argument("--version", action="version", version=f"bulkup {__version__}")
    parser.add_argument("--debug", action="store_true", help="verbose logs (secrets never shown)")
    commands = parser.add_subparsers(dest="command", required=True)
    put = commands.add_parser("put", help="upload files and directory trees",
                              description="Upload files and directory trees to s3://bucket/prefix/.")
    put.add_argument("sources", nargs="+", metavar="SRC")
    put.add_argument("destination", metavar="s3://bucket/prefix/")
    _add_connection_options(put)
    _add_upload_options(put)
    put.add_argument("--no-follow-symlinks", dest="follow_symlinks", action="store_false",
                     help="skip symbolic links instead of uploading what they point to")
    put.add_argument("--dry-run", action="store_true", help="show what would be uploaded")
    put.add_argument("--report", metavar="FILE.json", help="write the run's summary as JSON")
    _add_output_options(put)
    put.set_defaults(func=_cmd_put)
    from .cli_migrate import add_parsers as _add_migrate
    _add_migrate(commands, _add_connection_options, _add_upload_options, _add_output_options)
    manifest = commands.add_parser("manifest", help="write a JSON Lines manifest of a directory tree",
                                   description="Write a manifest (JSON Lines) of every file under "
                                   "DIR, destined for s3://bucket/prefix/, to standard output.")
    manifest.add_argument("directory", metavar="DIR")
    manifest.add_argument("destination", metavar="s3://bucket/prefix/")
    manifest.add_argument("--no-follow-symlinks", dest="follow_symlinks", action="store_false")
    manifest.set_defaults(func=_cmd_manifest)
    doctor = commands.add_parser("doctor", help="which data path uploads take here, and why")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                        help="diagnose every node of a Ray cluster instead of this machine")
    doctor.set_defaults(func=_cmd_doctor)
    from .cleanup import add_parser as _add_cleanup
    _add_cleanup(commands, _add_connection_options)
    return parser


def _add_connection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint-url", help="S3-compatible endpoint (default: AWS)")
    p.add_argument("--region")
    p.add_argument("--profile")
    p.add_argument("--addressing-style", choices=["auto", "path", "virtual"], default="auto")
    p.add_argument("--ca-bundle", help="PEM file of CA certificates to trust")
    p.add_argument("--no-verify-ssl", dest="verify_ssl", action="store_false",
                   help="do not verify TLS certificates (insecure; warns)")
    p.add_argument("--tls-max-version", choices=["1.2", "1.3"],
                   help="highest TLS version to offer (kernels offload TLS 1.2 receive too)")


def _add_upload_options(p: argparse.ArgumentParser) -> None:
    """How objects are cut, checked, sent, and what attributes they get."""
    p.add_argument("--part-size", type=_size, help="multipart part size (default: 8MiB, "
                   "grown as needed to stay within 10,000 parts)")
    p.add_argument("--multipart-threshold", type=_size,
                   help="files above this go as multipart uploads (default: the part size)")
    p.add_argument("--workers", type=int, help="worker processes (default: one per core; "
                   "with --ray: per node, default one per CPU of each node)")
    p.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                   help="send from the nodes of a Ray cluster (ADDRESS, default: RAY_ADDRESS or "
                   "the cluster started on this machine); needs pip install 'bulkup[ray]'")
    p.add_argument("--connections", type=int, default=2, help="connections per worker (default 2)")
    p.add_argument("--engine", default="auto", choices=["auto", *ENGINES],
                   help="how part bodies are sent (default: best available)")
    p.add_argument("--checksum", default=DEFAULT_ALGORITHM, choices=list(ALGORITHMS),
                   help=f"checksum the server verifies for every part (default {DEFAULT_ALGORITHM}; "
                   "use md5 for stores that reject flexible x-amz-checksum headers)")
    p.add_argument("--storage-class")
    p.add_argument("--content-type", help="Content-Type for every object (default: guessed)")
    p.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE",
                   help="user metadata (repeatable)")
    p.add_argument("--sse", choices=["AES256", "aws:kms", "aws:kms:dsse"], help="server-side encryption")
    p.add_argument("--sse-kms-key-id")


def _add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", choices=list(CHOICES), default="auto",
                   help="auto (default): a live dashboard on a terminal, plain lines otherwise; "
                   "rich; tqdm bars; json lines on stdout (see README); plain; none")
    p.add_argument("--quiet", action="store_true", help="errors and the summary only")


def upload_options(args: argparse.Namespace, base: UploadOptions | None = None) -> UploadOptions:
    """UploadOptions from parsed flags; with ``base``, only the flags given override it."""
    values = {name: getattr(args, name) for name in _OPTION_FLAGS if hasattr(args, name)}
    if "metadata" in values:
        values["metadata"] = _metadata(values["metadata"])
    if base is None:
        return UploadOptions(**values)
    return dataclasses.replace(base, **values)


_OPTION_FLAGS = ("endpoint_url", "region", "profile", "addressing_style", "ca_bundle", "verify_ssl",
                 "part_size", "multipart_threshold", "workers", "connections", "checksum", "engine",
                 "storage_class", "content_type", "metadata", "sse", "sse_kms_key_id",
                 "tls_max_version", "dry_run", "ray")


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _metadata(pairs: list[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BulkupError(f"--metadata {pair!r}: expected KEY=VALUE")
        result[key] = value
    return result


def _cmd_put(args: argparse.Namespace) -> int:
    if not args.verify_ssl:
        print(INSECURE_WARNING, file=sys.stderr)
    options = dataclasses.replace(upload_options(args), follow_symlinks=args.follow_symlinks)
    progress = progress_sink(args)
    result = upload(args.sources, args.destination, options, progress=progress)
    if args.report and not args.dry_run:
        write_json(args.report, {**result.summary(progress.state.peak_rate),
                                 "skipped": [{"path": p, "reason": r} for p, r in result.skipped]})
    for path, reason in result.skipped:
        print(f"bulkup: warning: skipped {path}: {reason}", file=sys.stderr)
    if args.dry_run:
        _print_dry_run(result, args.destination, options)
        return 0
    if not result.ok:
        return 1
    return 2 if result.skipped else 0


def _cmd_manifest(args: argparse.Namespace) -> int:
    from .manifest import write_manifest
    count, skipped = write_manifest(args.directory, args.destination, sys.stdout, args.follow_symlinks)
    for path, reason in skipped:
        print(f"bulkup: warning: skipped {path}: {reason}", file=sys.stderr)
    print(f"bulkup: {count} entries written", file=sys.stderr)
    return 2 if skipped else 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import report
    return report(as_json=args.json, ray=args.ray)


def progress_sink(args: argparse.Namespace) -> ProgressSink:
    """The progress display the flags and the terminal call for."""
    return make_progress(getattr(args, "progress", "auto"), getattr(args, "quiet", False))


def _print_dry_run(result: UploadResult, destination: str, options: UploadOptions) -> None:
    bucket = destination[len("s3://"):].split("/", 1)[0]
    for obj in result.objects:
        part_size = choose_part_size(obj.size, options.part_size)
        multipart = is_multipart(obj.size, options.multipart_threshold or part_size)
        how = f"{-(-obj.size // part_size)} parts of {human_bytes(part_size)}" if multipart else "single PUT"
        print(f"(dry run) {obj.path} -> s3://{bucket}/{obj.key} ({human_bytes(obj.size)}, {how})")
    total = sum(o.size for o in result.objects)
    print(f"(dry run) {len(result.objects)} objects, {human_bytes(total)}; nothing was uploaded")


if __name__ == "__main__":
    sys.exit(main())
