"""Token requests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from gdpr_vault.inputs import Input


class TokenIn(Input):
    role: Literal["dpo", "client", "auditor"]
    client_id: str | None = None
    label: Annotated[str, msgspec.Meta(max_length=200)] = ""
    expires_at: datetime | None = None
