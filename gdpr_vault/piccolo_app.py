"""The single Piccolo app: every capability's tables, one migration history in ./migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from gdpr_vault.tables import ALL_TABLES


def migrations_dir() -> Path:
    """The repository's migrations folder; a wheel install finds it from the working directory."""
    beside_package = Path(__file__).resolve().parent.parent / "migrations"
    return beside_package if beside_package.is_dir() else Path.cwd() / "migrations"


APP_CONFIG = AppConfig(
    app_name="gdpr_vault",
    migrations_folder_path=str(migrations_dir()),
    table_classes=list(ALL_TABLES),
    migration_dependencies=[],
    commands=[],
)
