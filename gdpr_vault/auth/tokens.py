"""Bearer tokens for the three roles; secrets are shown once and stored as SHA-256 digests.

A token is high-entropy random, so a fast digest is enough (no password hashing needed) and
lookup stays one indexed query per request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from gdpr_vault.auth.tables import ApiToken
from gdpr_vault.ids import new_id

Role = Literal["dpo", "client", "auditor"]
ROLES: tuple[Role, ...] = ("dpo", "client", "auditor")
TOKEN_PREFIX = "gv_"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    """Who is calling: role, the one client a client/auditor token is bound to, and an id."""

    token_id: str
    role: Role
    client_id: str | None
    label: str

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.token_id}"

    @property
    def can_write(self) -> bool:
        return self.role != "auditor"

    def sees_client(self, client_id: str) -> bool:
        return self.role == "dpo" or self.client_id == client_id


async def authenticate(secret: str, now: datetime) -> Principal | None:
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = await ApiToken.select().where(ApiToken.token_hash == hash_token(secret)).first()
    if row is None or row["revoked_at"] is not None:
        return None
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return None
    return Principal(row["id"], row["role"], row["client_id"], row["label"])


def new_token_row(
    *,
    role: Role,
    client_id: str | None,
    label: str,
    created_by: str,
    now: datetime,
    expires_at: datetime | None,
) -> tuple[str, ApiToken]:
    secret = new_secret()
    row = ApiToken(
        id=new_id("tok"),
        token_hash=hash_token(secret),
        role=role,
        client_id=client_id,
        label=label,
        created_by=created_by,
        created_at=now,
        expires_at=expires_at,
    )
    return secret, row
