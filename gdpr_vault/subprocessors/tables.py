"""The processor's sub-processors (GDPR Art. 28(2), 28(4)).

Register entries and change notices point at these rows by foreign key, never by a copied name,
so renaming or relocating a sub-processor is one change seen everywhere.
"""

from piccolo.columns import Date, Text, Timestamptz, Varchar
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
