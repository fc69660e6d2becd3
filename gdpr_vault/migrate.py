"""Apply the one schema history in ./migrations to whichever database is configured."""

from __future__ import annotations

import contextlib
import io

from gdpr_vault import db  # sets PICCOLO_CONF before Piccolo looks for it


class MigrationError(RuntimeError):
    pass


async def migrate(*, quiet: bool = True) -> str:
    """Run pending migrations; Piccolo prints progress, which we capture unless asked not to."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer) if quiet else contextlib.nullcontext():
        result = await run_forwards(app_name="gdpr_vault", migration_id="all")
    if not result.success:
        raise MigrationError(result.message or buffer.getvalue())
    if not db.is_postgres():
        await _write_ahead_log()
    return buffer.getvalue()


async def _write_ahead_log() -> None:
    """SQLite in WAL mode (kept in the file): readers and the one writer no longer wait for
    each other, so web requests and worker processes share the file without stalls. The
    default ``synchronous=FULL`` stays: a committed transaction survives a power cut."""
    from gdpr_vault.jobs.tables import Job

    rows = await Job.raw("PRAGMA journal_mode=WAL")
    mode = str(next(iter(rows[0].values()))).lower() if rows else ""
    if mode != "wal":
        raise MigrationError(f"SQLite refused WAL mode (journal_mode={mode!r})")
