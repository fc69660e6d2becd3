from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey

ID = "2026-11-24T00:59:47:252417"
VERSION = "1.38.0"
DESCRIPTION = "indexes on the foreign keys fan-outs and per-client views look rows up by"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="gdpr_vault", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="Contact",
        tablename="contact",
        column_name="client",
        db_column_name="client",
        params={"index": True},
        old_params={"index": False},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Contract",
        tablename="contract",
        column_name="client",
        db_column_name="client",
        params={"index": True},
        old_params={"index": False},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="TermsVersion",
        tablename="terms_version",
        column_name="contract",
        db_column_name="contract",
        params={"index": True},
        old_params={"index": False},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="WebhookEndpoint",
        tablename="webhook_endpoint",
        column_name="client",
        db_column_name="client",
        params={"index": True},
        old_params={"index": False},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="OutboxMessage",
        tablename="outbox_message",
        column_name="notice",
        db_column_name="notice",
        params={"index": True},
        old_params={"index": False},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="NoticeReceipt",
        tablename="notice_receipt",
        column_name="notice",
        db_column_name="notice",
        params={"index": True},
        old_params={"index": False},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    return manager
