"""The ``gdpr-vault`` command: serve, worker, migrate, token, demo, verify, deadline.

Commands that print a secret or a result for scripts put it alone on the last line of stdout;
everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from gdpr_vault.settings import get_settings
from gdpr_vault.timeutil import parse_instant, system_clock


def _err(message: str) -> None:
    print(f"gdpr-vault: {message}", file=sys.stderr)


def _run(coro_factory: Callable[[], Awaitable[int]]) -> int:
    async def wrapper() -> int:
        from gdpr_vault import db

        await db.start_pool()
        try:
            return await coro_factory()
        finally:
            await db.close_pool()

    return asyncio.run(wrapper())


async def _migrate_quiet() -> None:
    from gdpr_vault.migrate import migrate

    await migrate(quiet=True)


def _migrate_then(code: int) -> Callable[[], Awaitable[int]]:
    async def go() -> int:
        await _migrate_quiet()
        return code

    return go


def cmd_migrate(_: argparse.Namespace) -> int:
    async def go() -> int:
        await _migrate_quiet()
        print(f"migrations applied to {get_settings().effective_database_url.split('@')[-1]}")
        return 0

    return _run(go)


async def _ensure_first_dpo_token() -> str | None:
    """On an empty install, mint the first DPO token so the operator can log in at all."""
    from gdpr_vault.auth.service import issue_token
    from gdpr_vault.auth.tables import ApiToken

    if await ApiToken.exists().where(ApiToken.role == "dpo"):
        return None
    issued = await issue_token(
        role="dpo",
        client_id=None,
        label="first DPO token (printed at first start)",
        expires_at=None,
        actor="system:first-run",
        now=system_clock(),
    )
    return str(issued["token"])


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gdpr_vault.app import create_app

    settings = get_settings()

    async def prepare() -> int:
        from gdpr_vault.contracts.tables import Client
        from gdpr_vault.evidence.keys import service_signing_key

        await _migrate_quiet()
        service_signing_key()
        token = await _ensure_first_dpo_token()
        if settings.demo and not await Client.exists():
            from gdpr_vault.demo import load_demo

            summary = await load_demo(system_clock())
            _err(f"demo data loaded: {len(summary['clients'])} clients (DEMO=0 skips this)")
        if token:
            print("=" * 72, file=sys.stderr)
            print("First DPO token (shown once, keep it safe):", file=sys.stderr)
            print(token, file=sys.stderr)
            print("=" * 72, file=sys.stderr)
        return 0

    _run(prepare)
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level="warning",
        access_log=False,
    )
    return 0


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """A supervised worker stops when its supervisor is gone (re-parented: no orphans)."""
    while not stop.is_set():
        if os.getppid() != parent:
            _err(f"supervisor {parent} is gone; stopping")
            stop.set()
            return
        await asyncio.sleep(1)


def cmd_worker(args: argparse.Namespace) -> int:
    from gdpr_vault.jobs.supervisor import supervise
    from gdpr_vault.jobs.worker import run_worker
    from gdpr_vault.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    processes = settings.worker_processes if args.processes is None else args.processes
    if processes < 1:
        _err("--processes must be at least 1")
        return 2
    if processes > 1:
        code = _run(_migrate_then(0))  # once, before the children start
        return code or supervise(processes, once=args.once)

    async def go() -> int:
        if not args.migrated:
            await _migrate_quiet()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        watch = asyncio.create_task(_watch_parent(args.parent, stop)) if args.parent else None
        await run_worker(settings, system_clock, stop, max_idle_loops=1 if args.once else None)
        if watch is not None:
            watch.cancel()
        return 0

    return _run(go)


def cmd_token(args: argparse.Namespace) -> int:
    from gdpr_vault.auth import service
    from gdpr_vault.errors import Problem

    async def go() -> int:
        await _migrate_quiet()
        now = system_clock()
        try:
            if args.token_command == "create":
                expires = parse_instant(args.expires, "--expires") if args.expires else None
                issued = await service.issue_token(
                    role=args.role,
                    client_id=args.client,
                    label=args.label or "",
                    expires_at=expires,
                    actor="cli",
                    now=now,
                )
                _err(f"{issued['role']} token {issued['id']} created (shown once)")
                print(issued["token"])
            elif args.token_command == "revoke":
                await service.revoke_token(args.token_id, "cli", now)
                print(f"revoked {args.token_id}")
            else:
                for row in await service.list_tokens(args.client):
                    print(json.dumps(row))
        except (Problem, ValueError) as exc:
            _err(str(exc))
            return 2
        return 0

    return _run(go)


def cmd_demo(_: argparse.Namespace) -> int:
    from gdpr_vault.demo import load_demo

    async def go() -> int:
        await _migrate_quiet()
        summary = await load_demo(system_clock())
        print(json.dumps(summary, indent=2))
        return 0

    return _run(go)


def cmd_verify_trail(_: argparse.Namespace) -> int:
    from gdpr_vault.evidence.trail import verify_chain

    async def go() -> int:
        report = await verify_chain()
        print(json.dumps(report.to_dict()))
        if not report.ok:
            _err(f"trail broken at seq {report.first_broken_seq}: {report.reason}")
            return 1
        return 0

    return _run(go)


def cmd_verify(args: argparse.Namespace) -> int:
    from gdpr_vault.evidence.verify import verify_path

    public_key = Path(args.public_key) if args.public_key else None
    report = verify_path(Path(args.file), public_key)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if report.get("error"):
        _err(str(report["error"]))
        return 2
    return 0 if report["ok"] else 1


def cmd_register(args: argparse.Namespace) -> int:
    """Export the register (signed, beside the file) or import one, all or nothing."""
    from gdpr_vault.errors import Problem

    async def go() -> int:
        from gdpr_vault.registers import exports, imports

        await _migrate_quiet()
        now = system_clock()
        try:
            if args.register_command == "export":
                as_of = parse_instant(args.as_of, "--as-of") if args.as_of else None
                if args.client:
                    from gdpr_vault.registers.service import client_identity

                    await client_identity(args.client)
                request = exports.new_request(args.format, args.client, now, as_of)
                out = Path(args.out) if args.out else Path(request.filename)
                result = await exports.write_export(request, out, actor="cli")
                _err(f"signature: {result['signature']} (check with: gdpr-vault verify {out})")
                print(json.dumps(result))
            else:
                summary = await imports.import_register(
                    Path(args.file).read_bytes(),
                    actor=f"cli:{args.author}",
                    now=now,
                    reason=args.reason,
                )
                print(json.dumps(summary))
        except Problem as exc:
            _err(str(exc))
            for error in exc.extra.get("errors", []):
                line = f"line {error['line']}: " if "line" in error else ""
                _err(f"  {line}{error['field']}: {error['detail']} [{error['rule']}]")
            return 2
        except (OSError, ValueError) as exc:
            _err(str(exc))
            return 2
        return 0

    return _run(go)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gdpr-vault", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web service (and an in-process worker)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run background jobs")
    worker.add_argument("--once", action="store_true", help="stop when nothing is due")
    worker.add_argument(
        "--processes",
        type=int,
        help="worker processes to run (default WORKER_PROCESSES, 1); one per core is the most "
        "a fan-out can use",
    )
    worker.add_argument("--migrated", action="store_true", help=argparse.SUPPRESS)
    worker.add_argument("--parent", type=int, help=argparse.SUPPRESS)
    worker.set_defaults(func=cmd_worker)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("demo", help="load demo clients, one per preset").set_defaults(func=cmd_demo)
    sub.add_parser("verify-trail", help="recompute the trail's hash chain").set_defaults(
        func=cmd_verify_trail
    )

    verify = sub.add_parser("verify", help="check any signed document of the product offline")
    verify.add_argument("file")
    verify.add_argument(
        "--public-key",
        help="PEM file or /api/v1/keys JSON (default: the service key in VAR_DIR/keys, if any)",
    )
    verify.set_defaults(func=cmd_verify)

    token = sub.add_parser("token", help="create, list or revoke API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create")
    create.add_argument("--role", required=True, choices=["dpo", "client", "auditor"])
    create.add_argument("--client", help="client id (client and auditor tokens)")
    create.add_argument("--expires", help="ISO 8601 with offset")
    create.add_argument("--label")
    revoke = token_sub.add_parser("revoke")
    revoke.add_argument("token_id")
    listing = token_sub.add_parser("list")
    listing.add_argument("--client")
    token.set_defaults(func=cmd_token)

    register = sub.add_parser("register", help="export or import the processing register")
    register_sub = register.add_subparsers(dest="register_command", required=True)
    reg_export = register_sub.add_parser("export", help="signed export; <out>.dsse.json beside it")
    reg_export.add_argument("--client", help="one client's register (default: the processor's)")
    reg_export.add_argument("--format", choices=["json", "csv", "html"], default="json")
    reg_export.add_argument("--as-of", help="ISO 8601 instant with offset (default: now)")
    reg_export.add_argument("--out", help="file to write (default: register-<scope>-<date>.<fmt>)")
    reg_import = register_sub.add_parser("import", help="import a JSON or CSV register")
    reg_import.add_argument("file")
    reg_import.add_argument("--author", required=True)
    reg_import.add_argument("--reason", required=True)
    register.set_defaults(func=cmd_register)

    deadline = sub.add_parser("deadline", help="compute a deadline (see --help)", add_help=False)
    deadline.set_defaults(func=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "deadline":
        from gdpr_vault.clocks.cli import main as deadline_main

        return deadline_main(argv[1:])
    args = build_parser().parse_args(argv)
    return int(args.func(args))


def run() -> int:
    """Console-script entry: a reader that stops early (``| head``) is not an error."""
    try:
        return main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(run())
