"""Token requests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["dpo", "client", "auditor"]
    client_id: str | None = None
    label: Annotated[str, msgspec.Meta(max_length=200)] = ""
    expires_at: datetime | None = None
