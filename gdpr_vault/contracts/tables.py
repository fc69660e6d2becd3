"""Clients (the controllers), their contacts, contracts and versioned clause terms."""

from piccolo.columns import Boolean, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class Client(Table, tablename="client"):
    id = Varchar(length=40, primary_key=True)
    legal_name = Varchar(length=300)
    registration_id = Varchar(length=40, null=True)
    registration_scheme = Varchar(length=20, default="SIREN")
    country = Varchar(length=2)
    language = Varchar(length=2, default="fr")
    dpo_name = Varchar(length=200, null=True)
    dpo_email = Varchar(length=320, null=True)
    created_at = Timestamptz()


class Contact(Table, tablename="contact"):
    id = Varchar(length=40, primary_key=True)
    client = ForeignKey(references=Client, null=False, index=True)
    name = Varchar(length=200)
    email = Varchar(length=320)
    role = Varchar(length=40)
    language = Varchar(length=2, default="fr")
    receives_notices = Boolean(default=True)
    created_at = Timestamptz()


class Contract(Table, tablename="contract"):
    id = Varchar(length=40, primary_key=True)
    client = ForeignKey(references=Client, null=False, index=True)
    reference = Varchar(length=100)
    preset = Varchar(length=40, null=True)
    start_date = Date()
    end_date = Date(null=True)
    renewal = Varchar(length=20, default="tacit")
    time_zone = Varchar(length=64, default="Europe/Paris")
    status = Varchar(length=20, default="active")
    current_version = Integer(default=1)
    created_at = Timestamptz()


class TermsVersion(Table, tablename="terms_version"):
    """One row per amendment; deadlines record the version they were computed under."""

    id = Varchar(length=40, primary_key=True)
    contract = ForeignKey(references=Contract, null=False, index=True)
    version = Integer()
    terms_json = Text()
    # SHA-256 of terms_json: bulk reads fetch each distinct text once (contracts.service)
    terms_sha256 = Varchar(length=64, null=True, default=None)
    reason = Text()
    author = Varchar(length=100)
    created_at = Timestamptz()
