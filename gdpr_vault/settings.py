"""One typed settings object, read from the environment once.

Every knob the service has is here so the README's configuration table can be checked against
one place; nothing else in the package reads ``os.environ``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Service configuration; defaults give the embedded mode (SQLite and files under ./var)."""

    var_dir: Path = Path("var")
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    signing_key_path: Path | None = None
    demo: bool = True
    log_format: str = "auto"
    log_level: str = "INFO"
    max_body_bytes: int = 1_048_576
    worker_in_process: bool = True
    worker_poll_seconds: float = 1.0
    job_lease_seconds: int = 300
    checkpoint_interval_seconds: int = 3600
    processor_name: str = "gdpr-vault processor"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"

    @property
    def effective_signing_key_path(self) -> Path:
        return self.signing_key_path or self.keys_dir / "signing-ed25519.pem"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'gdpr-vault.sqlite3'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite:")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        key_path = e.get("SIGNING_KEY_PATH")
        return cls(
            var_dir=Path(e.get("VAR_DIR", "var")),
            database_url=e.get("DATABASE_URL", ""),
            host=e.get("HOST", "127.0.0.1"),
            port=int(e.get("PORT", "8000")),
            public_base_url=e.get(
                "PUBLIC_BASE_URL", f"http://{e.get('HOST', '127.0.0.1')}:{e.get('PORT', '8000')}"
            ),
            signing_key_path=Path(key_path) if key_path else None,
            demo=_bool(e.get("DEMO"), True),
            log_format=e.get("LOG_FORMAT", "auto"),
            log_level=e.get("LOG_LEVEL", "INFO"),
            max_body_bytes=int(e.get("MAX_BODY_BYTES", "1048576")),
            worker_in_process=_bool(e.get("WORKER_IN_PROCESS"), True),
            worker_poll_seconds=float(e.get("WORKER_POLL_SECONDS", "1.0")),
            job_lease_seconds=int(e.get("JOB_LEASE_SECONDS", "300")),
            checkpoint_interval_seconds=int(e.get("CHECKPOINT_INTERVAL_SECONDS", "3600")),
            processor_name=e.get("PROCESSOR_NAME", "gdpr-vault processor"),
        )


_current: Settings | None = None


def get_settings() -> Settings:
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


def set_settings(settings: Settings) -> None:
    """Tests and the CLI replace the settings before the engine is first used."""
    global _current
    _current = settings
