"""Fill ``terms_version.terms_sha256`` for the versions written before the column existed.

In its own migration because Piccolo runs a migration's raw steps before its column changes.
Terms versions are never rewritten, so a digest filled once stays true.
"""

import hashlib

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

ID = "2026-11-24T02:08:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "terms_version.terms_sha256 filled for existing versions"


async def _backfill() -> None:
    engine = engine_finder()
    assert engine is not None
    rows = await engine.run_querystring(
        QueryString("SELECT id, terms_json FROM terms_version WHERE terms_sha256 IS NULL")
    )
    for row in rows:
        digest = hashlib.sha256(row["terms_json"].encode()).hexdigest()
        await engine.run_querystring(
            QueryString(
                "UPDATE terms_version SET terms_sha256 = {} WHERE id = {}", digest, row["id"]
            )
        )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="gdpr_vault", description=DESCRIPTION)
    manager.add_raw(_backfill)
    return manager
