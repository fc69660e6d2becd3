"""The trail, its verification, signed checkpoints and the public key that verifies them."""

from __future__ import annotations

import json
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, QueryParameter

from gdpr_vault.auth.guards import client_scope, dpo_only, read_only_for_auditors
from gdpr_vault.errors import NotFound
from gdpr_vault.evidence import trail
from gdpr_vault.evidence.checkpoints import create_checkpoint, latest_checkpoint
from gdpr_vault.evidence.keys import public_keyring
from gdpr_vault.evidence.tables import TrailEvent
from gdpr_vault.timeutil import utc_iso
from gdpr_vault.web import caller, now_of

# A trail position: the events' seq is a BIGINT, so a cursor beyond it is refused up front.
SeqCursor = Annotated[int, QueryParameter(ge=0, le=2**63 - 1)]


def event_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "event_id": row["event_id"],
        "occurred_at": utc_iso(row["occurred_at"]),
        "actor": row["actor"],
        "action": row["action"],
        "client_id": row["client_id"],
        "subject_type": row["subject_type"],
        "subject_id": row["subject_id"],
        "before_digest": row["before_digest"],
        "after_digest": row["after_digest"],
        "details": json.loads(row["details_json"]),
        "prev_hash": row["prev_hash"],
        "hash": row["hash"],
    }


async def events_page(client_id: str | None, after: int, limit: int) -> dict[str, Any]:
    query = TrailEvent.select().where(TrailEvent.seq > after).order_by(TrailEvent.seq)
    if client_id is not None:
        query = query.where(TrailEvent.client_id == client_id)
    rows = await query.limit(limit + 1)
    items = [event_out(r) for r in rows[:limit]]
    more = len(rows) > limit
    return {"items": items, "next_cursor": str(items[-1]["seq"]) if more and items else None}


@get("/api/v1/keys", tags=["evidence"], exclude_from_auth=True, summary="Public signing keys")
async def get_keys() -> dict[str, Any]:
    return public_keyring()


class TrailController(Controller):
    path = "/api/v1/trail"
    tags = ["evidence"]

    @get("/", guards=[dpo_only], summary="The whole trail in chain order")
    async def list_events(
        self,
        client_id: FromQuery[str | None] = None,
        cursor: SeqCursor = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        return await events_page(client_id, cursor, limit)

    @get("/verify", guards=[dpo_only], summary="Recompute the chain; report the first broken link")
    async def verify(self) -> dict[str, Any]:
        return (await trail.verify_chain()).to_dict()

    @post("/checkpoints", guards=[dpo_only], summary="Sign the current head now")
    async def checkpoint(self, request: Request) -> dict[str, Any]:
        row = await create_checkpoint(now_of(request), caller(request).actor)
        if row is None:
            latest = await latest_checkpoint()
            if latest is None:
                raise NotFound("the trail is empty: nothing to sign")
            row = latest
        return _checkpoint_out(row)

    @get("/checkpoints/latest", summary="The newest signed checkpoint (any role)")
    async def latest(self) -> dict[str, Any]:
        row = await latest_checkpoint()
        if row is None:
            raise NotFound("no checkpoint has been signed yet")
        return _checkpoint_out(row)


def _checkpoint_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "upto_seq": row["upto_seq"],
        "head_hash": row["head_hash"],
        "created_at": utc_iso(row["created_at"]),
        "envelope": row["envelope"],
    }


class ClientTrailController(Controller):
    path = "/api/v1/clients/{client_id:str}/trail"
    tags = ["evidence"]
    guards = [read_only_for_auditors, client_scope]

    @get("/", summary="This client's events (what was done for it, and who accessed what)")
    async def list_events(
        self,
        client_id: FromPath[str],
        cursor: SeqCursor = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        from gdpr_vault.contracts.service import get_client

        await get_client(client_id)
        return await events_page(client_id, cursor, limit)
