"""``python -m exporters pack|verify`` (and later ``gdpr-vault verify``) with stable exit codes.

0 success, 1 verification failed, 2 usage or input error. Errors are one line on stderr, never a
traceback, and always pass through the redactor so no credential from a URL is printed. Progress
is drawn only when stderr is a terminal, so logs of background jobs stay clean.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from exporters.errors import ExportError, InputError
from exporters.pack import PackResult, Progress, pack
from exporters.redact import Redactor
from exporters.signing import SignatureError, load_private_key, load_public_key
from exporters.verify import verify_bag

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROG = "exporters"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse prints usage plus a message and exits; we want one line and our exit code."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TiB"


class _ProgressLine:
    """One self-overwriting status line: files, bytes, rate, ETA."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, p: Progress) -> None:
        rate = p.bytes_done / p.elapsed if p.elapsed > 0 else 0.0
        files = f"{p.files_done}/{p.files_total}" if p.files_total else f"{p.files_done}"
        size = _human(p.bytes_done)
        eta = ""
        if p.bytes_total:
            size += f" / {_human(p.bytes_total)}"
            if rate > 0 and not p.finished:
                left = max(p.bytes_total - p.bytes_done, 0) / rate
                eta = f"  ETA {int(left // 60)}:{int(left % 60):02d}"
        line = f"\r{files} files  {size}  {_human(rate)}/s{eta}"
        self._stream.write(line.ljust(72))
        if p.finished:
            self._stream.write("\n")
        self._stream.flush()


def _one_line(text: str) -> str:
    """Driver messages span lines (libpq adds hints); an error here is always one line."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _parser() -> _Parser:
    parser = _Parser(prog=PROG, description="Streaming, signed BagIt exports and their check.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = commands.add_parser("pack", help="export sources into a BagIt bag")
    p.add_argument("--source", action="append", required=True, metavar="URL")
    p.add_argument("--out", required=True, metavar="DIR_OR_S3_URL")
    p.add_argument("--client", default="", metavar="ID")
    p.add_argument("--case-id", default="", metavar="ID")
    p.add_argument("--organization", default="", metavar="NAME")
    p.add_argument("--contract", default=None, metavar="REF")
    p.add_argument("--sign-key", type=Path, default=None, metavar="PATH")
    p.add_argument("--tar", action="store_true", help="also write <bag>.tar beside the bag")
    p.add_argument("--workers", type=int, default=2, metavar="N")
    p.add_argument(
        "--no-fsync",
        action="store_true",
        help="local destination: do not fsync (resumable after kill -9, not after power loss)",
    )
    v = commands.add_parser("verify", help="check a bag's checksums and signature")
    v.add_argument("bag", type=Path, metavar="BAG")
    v.add_argument("--public-key", type=Path, action="append", default=[], metavar="PEM")
    return parser


def _print_pack(result: PackResult, out: TextIO, err: TextIO) -> None:
    for item in result.skipped:
        err.write(f"{PROG}: skipped {item.name!r} from {item.source}: {item.reason}\n")
    resumed = f", resumed ({result.reused_files} files reused)" if result.resumed else ""
    out.write(
        f"bag {result.bag}: {result.files} files, {result.bytes} bytes, "
        f"Payload-Oxum {result.payload_oxum}{resumed}\n"
    )
    out.write(f"tagmanifest-sha256.txt sha256 {result.tagmanifest_sha256}\n")
    if result.envelope_location:
        out.write(f"signed with key {result.key_id}: {result.envelope_location}\n")
    else:
        out.write("unsigned: no --sign-key given\n")
    if result.tar:
        out.write(f"tar {result.tar} sha256 {result.tar_sha256}\n")


# The interpreter's switch interval while ``pack`` runs (CPython's default is 5 ms). The small-file
# lane runs Python between short system calls and keeps taking the GIL back; a large-file worker
# coming back from a read, a hash or a write then waited up to the whole interval for it, once
# or more per 4 MiB chunk. Measured on the benchmark tree: about 3-5 % less wall time. The CLI
# owns its process, so it sets this; the library leaves it to whoever embeds it.
PACK_SWITCH_INTERVAL = 0.001


def _pack(args: argparse.Namespace, redactor: Redactor) -> int:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(PACK_SWITCH_INTERVAL)
    try:
        return _run_pack(args, redactor)
    finally:
        sys.setswitchinterval(previous)  # main() may be embedded (gdpr-vault, tests)


def _run_pack(args: argparse.Namespace, redactor: Redactor) -> int:
    for url in args.source:
        redactor.add_url(url)
    redactor.add_url(args.out)
    key = None
    if args.sign_key is not None:
        try:
            key = load_private_key(args.sign_key)
        except FileNotFoundError:
            raise InputError(f"signing key {args.sign_key} does not exist") from None
        except (ValueError, TypeError) as exc:
            raise InputError(
                f"signing key {args.sign_key} is not a usable PEM key: {exc}"
            ) from None
    progress = _ProgressLine(sys.stderr) if sys.stderr.isatty() else None
    result = pack(
        args.source,
        args.out,
        client=args.client,
        case_id=args.case_id,
        organization=args.organization,
        contract=args.contract,
        signing_key=key,
        workers=args.workers,
        progress=progress,
        tar=args.tar,
        durable=not args.no_fsync,
    )
    _print_pack(result, sys.stdout, sys.stderr)
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    if not args.bag.is_dir():
        raise InputError(f"{args.bag} is not a directory")
    keys = []
    for path in args.public_key:
        try:
            keys.append(load_public_key(path.read_bytes()))
        except FileNotFoundError:
            raise InputError(f"public key {path} does not exist") from None
        except (ValueError, TypeError, SignatureError) as exc:
            raise InputError(f"public key {path} is not an Ed25519 PEM key: {exc}") from None
    report = verify_bag(args.bag, keys or None)
    print(report.summary())
    if report.ok:
        return EXIT_OK
    for failure in report.failures[:20]:
        print(f"  {failure}")
    more = len(report.failures) - 20
    if more > 0:
        print(f"  … and {more} more")
    sys.stderr.write(
        f"{PROG}: verification failed: {len(report.failures)} problem(s), "
        f"first: {report.failures[0] if report.failures else 'signature invalid'}\n"
    )
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of exiting, so ``gdpr-vault`` can embed it."""
    redactor = Redactor()
    try:
        args = _parser().parse_args(list(argv) if argv is not None else None)
        if args.command == "pack":
            return _pack(args, redactor)
        return _verify(args)
    except _UsageError as exc:
        sys.stderr.write(f"{PROG}: usage error: {_one_line(redactor(str(exc)))}\n")
        return EXIT_USAGE
    except ExportError as exc:
        sys.stderr.write(f"{PROG}: error: {_one_line(redactor(str(exc)))}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted; rerun the same command to resume\n")
        return 130
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except Exception as exc:  # an outage or a bug: still one line, still redacted
        detail = _one_line(redactor(f"{type(exc).__name__}: {exc}"))
        sys.stderr.write(f"{PROG}: error: {detail}\n")
        if os.environ.get("EXPORTERS_DEBUG"):
            raise
        return EXIT_USAGE
