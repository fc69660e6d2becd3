"""Every Piccolo table of the service, in dependency order, for the app registry and tests."""

from piccolo.table import Table

from gdpr_vault.auth.tables import ApiToken
from gdpr_vault.contracts.tables import Client, Contact, Contract, TermsVersion
from gdpr_vault.evidence.tables import Checkpoint, TrailEvent
from gdpr_vault.jobs.tables import Job
from gdpr_vault.subprocessors.tables import Subprocessor

ALL_TABLES: tuple[type[Table], ...] = (
    Client,
    Contact,
    Contract,
    TermsVersion,
    ApiToken,
    TrailEvent,
    Checkpoint,
    Job,
    Subprocessor,
)
