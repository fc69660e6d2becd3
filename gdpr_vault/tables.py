"""Every Piccolo table of the service, in dependency order, for the app registry and tests."""

from piccolo.table import Table

from gdpr_vault.audits.tables import Audit, AuditFinding, AuditorAccess
from gdpr_vault.auth.tables import ApiToken
from gdpr_vault.breaches.tables import Breach, BreachFactsVersion, BreachNotice, BreachObligation
from gdpr_vault.contracts.tables import Client, Contact, Contract, TermsVersion
from gdpr_vault.crypto.tables import ClientDataKey
from gdpr_vault.evidence.tables import Checkpoint, TrailEvent
from gdpr_vault.jobs.tables import Job
from gdpr_vault.notifications.tables import (
    Notice,
    NoticeReceipt,
    OutboxMessage,
    WebhookEndpoint,
)
from gdpr_vault.registers.tables import (
    ActivityClient,
    ActivitySubprocessor,
    ActivityVersion,
    ProcessingActivity,
)
from gdpr_vault.reversibility.tables import RevCase, RevExport, RevSource
from gdpr_vault.subprocessors.tables import (
    Subprocessor,
    SubprocessorAssignment,
    SubprocessorChange,
    SubprocessorChangeClient,
    SubprocessorObjection,
    SubprocessorRevision,
)

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
    SubprocessorRevision,
    SubprocessorChange,
    SubprocessorChangeClient,
    SubprocessorObjection,
    SubprocessorAssignment,
    WebhookEndpoint,
    Notice,
    OutboxMessage,
    NoticeReceipt,
    ProcessingActivity,
    ActivityVersion,
    ActivityClient,
    ActivitySubprocessor,
    Breach,
    BreachFactsVersion,
    BreachObligation,
    BreachNotice,
    Audit,
    AuditFinding,
    AuditorAccess,
    ClientDataKey,
    RevSource,
    RevCase,
    RevExport,
)
