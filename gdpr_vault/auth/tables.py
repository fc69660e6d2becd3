"""Bearer tokens: only their SHA-256 is stored, the secret is shown once."""

from piccolo.columns import Text, Timestamptz, Varchar
from piccolo.table import Table


class ApiToken(Table, tablename="api_token"):
    id = Varchar(length=40, primary_key=True)
    token_hash = Varchar(length=64, unique=True, index=True)
    role = Varchar(length=10)
    client_id = Varchar(length=40, null=True, index=True)
    label = Text(default="")
    created_by = Varchar(length=100)
    created_at = Timestamptz()
    expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
