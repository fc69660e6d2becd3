"""The hash-chained audit trail and its signed checkpoints.

``client_id`` is a plain column, not a foreign key: the trail must outlive a client's deletion,
and it never holds personal data, only identifiers and digests.
"""

from piccolo.columns import BigInt, Text, Timestamptz, Varchar
from piccolo.table import Table


class TrailEvent(Table, tablename="trail_event"):
    seq = BigInt(primary_key=True)
    event_id = Varchar(length=40, unique=True)
    occurred_at = Timestamptz()
    actor = Varchar(length=100)
    action = Varchar(length=80, index=True)
    client_id = Varchar(length=40, null=True, index=True)
    subject_type = Varchar(length=40)
    subject_id = Varchar(length=80)
    before_digest = Varchar(length=64, null=True)
    after_digest = Varchar(length=64, null=True)
    details_json = Text(default="{}")
    prev_hash = Varchar(length=64)
    hash = Varchar(length=64)


class Checkpoint(Table, tablename="trail_checkpoint"):
    id = Varchar(length=40, primary_key=True)
    upto_seq = BigInt()
    head_hash = Varchar(length=64)
    event_count = BigInt()
    created_at = Timestamptz()
    envelope_json = Text()
