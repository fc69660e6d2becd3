"""Notifications benchmark: webhook notices delivered through the outbox against a bare httpx loop.

``python benchmarks/notifications.py [--n 10000] [--concurrency 16] [--db sqlite|postgres|both]``

One receiver process (uvicorn, loopback only) answers 200 to every POST. First N webhook notices
are queued (one transaction each, as a capability would), then one worker delivers the outbox
(claim with lease, sign, POST, record with its trail event) until it is empty. The same receiver
is then hit by a bare ``httpx.AsyncClient`` loop posting the same bodies at the same concurrency.
Both throughputs are printed with their ratio. Each database runs in a child process (the engine
is chosen once per process); PostgreSQL is skipped when it does not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("GDPR_VAULT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def receiver_app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(receiver_app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def wait_port(port: int) -> None:
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("receiver did not start")


async def run_one_db(n: int, concurrency: int, url: str, receiver_url: str) -> dict:
    from dataclasses import replace
    from datetime import UTC, datetime

    import httpx

    from gdpr_vault import db
    from gdpr_vault.contracts import service as contracts
    from gdpr_vault.contracts.schemas import ClientIn
    from gdpr_vault.migrate import migrate
    from gdpr_vault.notifications import delivery, service
    from gdpr_vault.notifications.schemas import WebhookEndpointIn
    from gdpr_vault.notifications.tables import OutboxMessage
    from gdpr_vault.settings import get_settings, set_settings

    await migrate()
    await db.start_pool()
    now = datetime.now(UTC)
    client = await contracts.create_client(
        ClientIn(legal_name="Bench SAS", country="FR", registration_id=None), "bench", now
    )
    await service.create_endpoint(
        client["id"], WebhookEndpointIn(url=receiver_url), actor="bench", now=now
    )
    t0 = time.perf_counter()
    for i in range(n):
        async with db.transaction():
            await service.queue_notice(
                client_id=client["id"],
                kind="test.notice",
                subject_type="bench",
                subject_id=str(i),
                facts={"message": f"benchmark notice {i}"},
                now=now,
                actor="bench",
                channels=("webhook",),
            )
    queue_s = time.perf_counter() - t0
    settings = replace(get_settings(), notify_concurrency=concurrency, notify_batch_size=200)
    set_settings(settings)
    bodies = [
        (r["id"], r["content"].encode())
        for r in await OutboxMessage.select(OutboxMessage.id, OutboxMessage.content).limit(n)
    ]

    t0 = time.perf_counter()
    delivered = 0
    while True:
        claimed = await delivery.deliver_due("bench", datetime.now(UTC), settings)
        if not claimed:
            break
        delivered += claimed
    outbox_s = time.perf_counter() - t0
    sent = await OutboxMessage.count().where(OutboxMessage.status == "sent")

    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as http:

        async def post(msg_id: str, body: bytes) -> None:
            async with gate:
                r = await http.post(
                    receiver_url,
                    content=body,
                    headers={"content-type": "application/json", "webhook-id": msg_id},
                )
                r.raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*(post(i, b) for i, b in bodies))
        bare_s = time.perf_counter() - t0
    await db.close_pool()
    return {
        "n": n,
        "sent": sent,
        "queue_per_s": n / queue_s,
        "outbox_per_s": n / outbox_s,
        "bare_per_s": n / bare_s,
    }


def child(args: argparse.Namespace) -> None:
    result = asyncio.run(run_one_db(args.n, args.concurrency, args.url, args.receiver))
    print("RESULT " + json.dumps(result))


def pg_reachable() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
        return True
    except Exception:
        return False


def run_child(kind: str, args: argparse.Namespace, receiver: str) -> dict | None:
    var_dir = tempfile.mkdtemp(prefix="gv-bench-")
    pg_name = None
    if kind == "sqlite":
        url = f"sqlite:///{var_dir}/bench.sqlite3"
    else:
        import psycopg

        pg_name = f"gv_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{pg_name}"
    env = {**os.environ, "DATABASE_URL": url, "VAR_DIR": var_dir, "DEMO": "0", "LOG_LEVEL": "ERROR"}
    try:
        cmd = [sys.executable, __file__, "--child", "--n", str(args.n)]
        cmd += ["--concurrency", str(args.concurrency), "--url", url, "--receiver", receiver]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    except subprocess.CalledProcessError as exc:
        print(exc.stdout, exc.stderr, file=sys.stderr)
        raise
    finally:
        if pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--receiver", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    port = free_port()
    proc = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    proc.start()
    try:
        wait_port(port)
        receiver = f"http://127.0.0.1:{port}/hook"
        kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
        print(f"{args.n} webhook notices, concurrency {args.concurrency}, receiver {receiver}")
        for kind in kinds:
            if kind == "postgres" and not pg_reachable():
                print("postgres: not reachable, skipped")
                continue
            r = run_child(kind, args, receiver)
            if r is None:
                continue
            ratio = r["outbox_per_s"] / r["bare_per_s"]
            print(
                f"{kind:9} queued {r['queue_per_s']:8.0f} notices/s | outbox delivery "
                f"{r['outbox_per_s']:7.0f} msgs/s (sent {r['sent']}) | bare httpx "
                f"{r['bare_per_s']:7.0f} msgs/s | ratio {ratio:6.1%} (target >= 50%)"
            )
    finally:
        proc.terminate()
        proc.join()


if __name__ == "__main__":
    main()
