"""Per-client export sources, end-of-contract cases and each export attempt."""

from piccolo.columns import BigInt, Date, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class RevSource(Table, tablename="rev_source"):
    """One source URL of a client's data; the URL itself only sealed under the master key."""

    id = Varchar(length=40, primary_key=True)
    client_id = Varchar(length=40, index=True)
    position = Integer(default=0)
    url_sealed = Text()
    url_redacted = Text()
    kind = Varchar(length=12)  # files | s3 | sql
    tenant = Varchar(length=200)
    created_at = Timestamptz()
    created_by = Varchar(length=100)


class RevCase(Table, tablename="rev_case"):
    id = Varchar(length=40, primary_key=True)
    client_id = Varchar(length=40, index=True)
    contract_id = Varchar(length=40)
    terms_version = Integer()
    trigger = Varchar(length=20)  # termination | non_renewal | client_request
    status = Varchar(length=20, index=True)
    contract_end = Date()
    termination_notified_at = Timestamptz(null=True, default=None)
    requested_at = Timestamptz(null=True, default=None)
    request_form = Varchar(length=200, null=True, default=None)
    choice = Varchar(length=20, null=True, default=None)  # restitution | destruction
    choice_at = Timestamptz(null=True, default=None)
    first_available_at = Timestamptz(null=True, default=None)
    available_at = Timestamptz(null=True, default=None)
    export_attempt = Integer(default=0)
    integrity = Varchar(length=20, null=True, default=None)  # confirmed | anomaly | silent
    integrity_at = Timestamptz(null=True, default=None)
    deadlines_json = Text(default="{}")
    anomalies_json = Text(default="[]")
    exclusions_json = Text(default="[]")
    deletion_json = Text(default="{}")
    certificate_sha256 = Varchar(length=64, null=True, default=None)
    deleted_at = Timestamptz(null=True, default=None)
    opened_at = Timestamptz()
    opened_by = Varchar(length=100)
    updated_at = Timestamptz()


class RevExport(Table, tablename="rev_export"):
    """One run of the export: the first, then one per anomaly; manifests kept side by side."""

    id = Varchar(length=40, primary_key=True)
    case_id = Varchar(length=40, index=True)
    attempt = Integer()
    reason = Varchar(length=20)  # initial | anomaly
    files_concerned_json = Text(default="[]")
    status = Varchar(length=20)  # queued | running | available | superseded | erased
    data_key_id = Varchar(length=40, null=True, default=None)
    tagmanifest_sha256 = Varchar(length=64, null=True, default=None)
    payload_oxum = Varchar(length=40, null=True, default=None)
    files = Integer(default=0)
    bytes = BigInt(default=0)
    reused_files = Integer(default=0)
    archive_sha256 = Varchar(length=64, null=True, default=None)
    archive_bytes = BigInt(default=0)
    signature_keyid = Varchar(length=64, null=True, default=None)
    created_at = Timestamptz()
    available_at = Timestamptz(null=True, default=None)
