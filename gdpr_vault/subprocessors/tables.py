"""The processor's sub-processors (GDPR Art. 28(2), 28(4)).

Register entries and change notices point at these rows by foreign key, never by a copied name,
so renaming or relocating a sub-processor is one change seen everywhere.
"""

from piccolo.columns import Boolean, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class Subprocessor(Table, tablename="subprocessor"):
    id = Varchar(length=40, primary_key=True)
    legal_name = Varchar(length=300)
    registration_id = Varchar(length=60, null=True, default=None)
    address = Text(default="")
    country = Varchar(length=2)
    contact = Text(default="")
    activities = Text(default="[]")  # JSON list of strings
    data_categories = Text(default="[]")  # JSON list of strings
    hosting_locations = Text(default="[]")  # JSON list of ISO 3166-1 alpha-2 codes
    transfer_mechanism = Varchar(length=40, null=True, default=None)
    dpa_reference = Varchar(length=200, null=True, default=None)
    dpa_date = Date(null=True, default=None)
    status = Varchar(length=12, default="proposed")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class SubprocessorRevision(Table, tablename="subprocessor_revision"):
    """The list entry as it stood from ``valid_from`` until ``valid_to`` (None: still so).

    Every create, edit and status change closes the previous revision and opens a new one, so
    the DPO-wide list "as of" any instant is one query.
    """

    id = Varchar(length=40, primary_key=True)
    subprocessor = ForeignKey(references=Subprocessor, null=False, index=True)
    valid_from = Timestamptz(index=True)
    valid_to = Timestamptz(null=True, default=None)
    status = Varchar(length=12)
    snapshot_json = Text()  # the public entry (no personal data beyond business contacts)
    reason = Varchar(length=80)
    change_id = Varchar(length=40, null=True, default=None)


class SubprocessorChange(Table, tablename="subprocessor_change"):
    """An addition, replacement, removal, relocation or change of activities, as drafted."""

    id = Varchar(length=40, primary_key=True)
    kind = Varchar(length=12)  # add | replace | remove | relocate | activities
    subprocessor = ForeignKey(references=Subprocessor, null=False, index=True)
    replaces = ForeignKey(references=Subprocessor, null=True, default=None)
    activities = Text(default="[]")  # JSON: the activities after the change
    data_categories = Text(default="[]")
    hosting_locations = Text(default="[]")
    transfer_mechanism = Varchar(length=40, null=True, default=None)
    effective_date = Date()
    summary = Text(default="")
    client_ids = Text(default="[]")  # JSON: the DPO's explicit list (may be empty: derived)
    #: JSON: register activities (Art. 30) the sub-processor will serve once the change takes
    #: effect for a client; each is linked for the clients it is carried out for.
    activity_ids = Text(default="[]")
    status = Varchar(length=12, default="draft")  # draft | published | abandoned | completed
    facts_json = Text(default="{}")  # the notice facts, frozen at publication
    created_at = Timestamptz()
    created_by = Varchar(length=100)
    published_at = Timestamptz(null=True, default=None)
    abandoned_at = Timestamptz(null=True, default=None)


class SubprocessorChangeClient(Table, tablename="subprocessor_change_client"):
    """One affected client of a published change: its notice, window, answer and activation."""

    id = Varchar(length=40, primary_key=True)
    change = ForeignKey(references=SubprocessorChange, null=False, index=True)
    client_id = Varchar(length=40, index=True)
    contract_id = Varchar(length=40)
    time_zone = Varchar(length=64)
    notice_id = Varchar(length=40, null=True, default=None, index=True)
    state = Varchar(length=12, default="notified")
    notified_at = Timestamptz()
    estimated_window_due = Timestamptz(null=True, default=None)  # now + window at publication
    received_at = Timestamptz(null=True, default=None)
    receipt_method = Varchar(length=20, null=True, default=None)
    window_due = Timestamptz(null=True, default=None)
    window_display = Varchar(length=60, null=True, default=None)
    window_explanation = Text(null=True, default=None)  # JSON list of strings
    window_duration = Varchar(length=40, null=True, default=None)
    terms_version = Integer(null=True, default=None)
    accepted_at = Timestamptz(null=True, default=None)
    accepted_how = Varchar(length=12, null=True, default=None)  # explicit | silence
    resolution = Varchar(length=20, null=True, default=None)
    resolved_at = Timestamptz(null=True, default=None)
    activated_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class SubprocessorObjection(Table, tablename="subprocessor_objection"):
    """A client's written, reasoned objection; a late one is kept but does not block."""

    id = Varchar(length=40, primary_key=True)
    change_client = ForeignKey(references=SubprocessorChangeClient, null=False, index=True)
    change_id = Varchar(length=40, index=True)
    client_id = Varchar(length=40, index=True)
    reasons = Text()
    objected_at = Timestamptz()
    channel = Varchar(length=12)  # api | written
    recorded_by = Varchar(length=100)
    late = Boolean(default=False)
    status = Varchar(length=12, default="open")  # open | resolved | late
    resolution = Varchar(length=20, null=True, default=None)
    resolution_note = Text(null=True, default=None)
    resolved_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class SubprocessorAssignment(Table, tablename="subprocessor_assignment"):
    """Who processed which client's data when: effective-dated, never updated but to close it."""

    id = Varchar(length=40, primary_key=True)
    client_id = Varchar(length=40, index=True)
    subprocessor = ForeignKey(references=Subprocessor, null=False, index=True)
    activities = Text(default="[]")
    hosting_locations = Text(default="[]")
    valid_from = Timestamptz(index=True)
    valid_to = Timestamptz(null=True, default=None)
    change_id = Varchar(length=40, null=True, default=None)
    closed_by_change_id = Varchar(length=40, null=True, default=None)
