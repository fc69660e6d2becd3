"""Issuing and revoking tokens; the rules of who may hold which scope."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gdpr_vault import db
from gdpr_vault.auth.tables import ApiToken
from gdpr_vault.auth.tokens import Role, new_token_row
from gdpr_vault.contracts.tables import Client
from gdpr_vault.errors import Conflict, NotFound, ValidationProblem
from gdpr_vault.evidence import trail
from gdpr_vault.inputs import check_input_date
from gdpr_vault.timeutil import (
    utc_iso,
)

# An auditor's access is for one audit: a token valid for centuries would not be "expiring".
AUDITOR_TOKEN_MAX = timedelta(days=366)


def token_rule_error(
    role: Role, client_id: str | None, expires_at: datetime | None, now: datetime
) -> tuple[str, str, str] | None:
    """(field, rule, message) when the requested scope is not allowed, else None."""
    if role == "dpo" and client_id is not None:
        return "client_id", "dpo-unscoped", "a dpo token covers all clients: omit client_id"
    if role in ("client", "auditor") and not client_id:
        return "client_id", "scope-required", f"a {role} token needs the client_id it is bound to"
    if role == "auditor" and expires_at is None:
        return "expires_at", "auditor-expiry", "an auditor token must expire (set expires_at)"
    if expires_at is not None and expires_at <= now:
        return "expires_at", "in-future", "expires_at must be in the future"
    if role == "auditor" and expires_at is not None and expires_at > now + AUDITOR_TOKEN_MAX:
        return (
            "expires_at",
            "auditor-expiry",
            f"an auditor token lasts at most {AUDITOR_TOKEN_MAX.days} days; issue a new one "
            "for a later audit",
        )
    return None


async def issue_token(
    *,
    role: Role,
    client_id: str | None,
    label: str,
    expires_at: datetime | None,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    if expires_at is not None:
        check_input_date(expires_at, "expires_at")
    problem = token_rule_error(role, client_id, expires_at, now)
    if problem:
        field, rule, message = problem
        raise ValidationProblem(message, field=field, rule=rule)
    async with db.transaction():
        if client_id is not None:
            exists = await Client.exists().where(Client.id == client_id)
            if not exists:
                raise ValidationProblem(
                    f"client {client_id} does not exist", field="client_id", rule="exists"
                )
        secret, row = new_token_row(
            role=role,
            client_id=client_id,
            label=label,
            created_by=actor,
            now=now,
            expires_at=expires_at,
        )
        await ApiToken.insert(row)
        await trail.append(
            now=now,
            actor=actor,
            action="token.issued",
            subject_type="token",
            subject_id=row.id,
            client_id=client_id,
            details={"role": role, "expires_at": utc_iso(expires_at)},
        )
    return {**token_out(row.to_dict()), "token": secret}


def token_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "role": row["role"],
        "client_id": row["client_id"],
        "label": row["label"],
        "created_by": row["created_by"],
        "created_at": utc_iso(row["created_at"]),
        "expires_at": utc_iso(row["expires_at"]),
        "revoked_at": utc_iso(row["revoked_at"]),
    }


async def list_tokens(client_id: str | None = None) -> list[dict[str, Any]]:
    query = ApiToken.select().order_by(ApiToken.id)
    if client_id:
        query = query.where(ApiToken.client_id == client_id)
    return [token_out(r) for r in await query]


async def revoke_token(token_id: str, actor: str, now: datetime) -> dict[str, Any]:
    async with db.transaction():
        row = await ApiToken.select().where(ApiToken.id == token_id).first()
        if row is None:
            raise NotFound(f"token {token_id} not found", field="token_id")
        if row["revoked_at"] is not None:
            raise Conflict("token is already revoked", field="token_id", rule="not-revoked")
        await ApiToken.update({ApiToken.revoked_at: now}).where(ApiToken.id == token_id)
        await trail.append(
            now=now,
            actor=actor,
            action="token.revoked",
            subject_type="token",
            subject_id=token_id,
            client_id=row["client_id"],
        )
    return token_out({**row, "revoked_at": now})
