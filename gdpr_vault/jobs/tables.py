"""Background work lives in the database so a crash, a restart or a second machine loses none."""

from piccolo.columns import Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class Job(Table, tablename="job"):
    id = Varchar(length=40, primary_key=True)
    kind = Varchar(length=60, index=True)
    payload_json = Text(default="{}")
    dedupe_key = Varchar(length=200, null=True, unique=True)
    status = Varchar(length=12, default="queued", index=True)
    run_at = Timestamptz(index=True)
    attempts = Integer(default=0)
    max_attempts = Integer(default=5)
    lease_until = Timestamptz(null=True, default=None)
    locked_by = Varchar(length=100, null=True, default=None)
    last_error = Text(null=True, default=None)
    created_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
