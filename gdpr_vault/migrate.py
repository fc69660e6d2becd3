"""Apply the one schema history in ./migrations to whichever database is configured."""

from __future__ import annotations

import contextlib
import io

from gdpr_vault import db  # noqa: F401  (sets PICCOLO_CONF before Piccolo looks for it)


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
    return buffer.getvalue()
