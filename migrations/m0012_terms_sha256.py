from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-24T02:07:31:719527"
VERSION = "1.38.0"
DESCRIPTION = "terms_version.terms_sha256: the digest bulk reads fetch each distinct text by"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="gdpr_vault", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="TermsVersion",
        tablename="terms_version",
        column_name="terms_sha256",
        db_column_name="terms_sha256",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
