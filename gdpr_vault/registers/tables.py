"""Register tables: activities, their immutable versions, and temporal links to clients and
sub-processors.

A version row is the content of one activity (every Art. 30 field and its activity-wide
sub-processors) from ``valid_from`` until ``valid_to`` (null while current). Which clients an
activity serves, and sub-processors activated for one client only, are link rows with their own
``added_*`` / ``removed_*`` author, reason and instant: linking the 5,000th client writes one
small row, not a new copy of a 5,000-id list. "As of T" is one indexed range test per table and
nothing is ever overwritten.
"""

from piccolo.columns import ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from gdpr_vault.contracts.tables import Client
from gdpr_vault.subprocessors.tables import Subprocessor


class ProcessingActivity(Table, tablename="processing_activity"):
    id = Varchar(length=40, primary_key=True)
    reference = Varchar(length=60, unique=True)
    current_version = Integer(default=1)
    status = Varchar(length=12, default="active")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ActivityVersion(Table, tablename="activity_version"):
    id = Varchar(length=40, primary_key=True)
    activity = ForeignKey(references=ProcessingActivity, null=False, index=True)
    version = Integer()
    data_json = Text()  # the whole entry, canonical JSON (see registers.rules.canonical_entry)
    author = Varchar(length=100)
    reason = Text()
    valid_from = Timestamptz()
    valid_to = Timestamptz(null=True, default=None)


class ActivityClient(Table, tablename="activity_client"):
    """One activity carried out for one controller client, over a period of time."""

    id = Varchar(length=40, primary_key=True)
    activity = ForeignKey(references=ProcessingActivity, null=False, index=True)
    client = ForeignKey(references=Client, null=False, index=True)
    added_at = Timestamptz()
    added_by = Varchar(length=100)
    added_reason = Text()
    removed_at = Timestamptz(null=True, default=None)
    removed_by = Varchar(length=100, null=True, default=None)
    removed_reason = Text(null=True, default=None)


class ActivitySubprocessor(Table, tablename="activity_subprocessor"):
    """A sub-processor involved in an activity: for every client of it (``client`` null) or,
    while a sub-processor change is still pending for the others, for one client only."""

    id = Varchar(length=40, primary_key=True)
    activity = ForeignKey(references=ProcessingActivity, null=False, index=True)
    subprocessor = ForeignKey(references=Subprocessor, null=False, index=True)
    client = ForeignKey(references=Client, null=True, default=None)
    activities = Text(default="")  # what is sub-contracted, Art. 28(2)/(4)
    added_at = Timestamptz()
    added_by = Varchar(length=100)
    added_reason = Text()
    removed_at = Timestamptz(null=True, default=None)
    removed_by = Varchar(length=100, null=True, default=None)
    removed_reason = Text(null=True, default=None)
