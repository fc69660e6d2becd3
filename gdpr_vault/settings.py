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
    worker_processes: int = 1
    job_lease_seconds: int = 300
    checkpoint_interval_seconds: int = 3600
    processor_name: str = "gdpr-vault processor"
    processor_contact: str = ""  # Art. 30(2)(a): postal address / e-mail of the processor
    processor_dpo: str = ""  # Art. 30(2)(a): the processor's DPO (name and e-mail)
    # notifications (docs/notifications.md)
    dpo_alert_email: str = "dpo@processor.example"
    dpo_alert_language: str = "fr"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: str = "none"  # none | starttls | ssl
    smtp_from: str = "gdpr-vault@processor.example"
    smtp_timeout_seconds: float = 30.0
    webhook_timeout_seconds: float = 15.0
    notify_max_attempts: int = 8
    notify_backoff_base_seconds: float = 30.0
    notify_backoff_max_seconds: float = 6 * 3600.0
    notify_lease_seconds: int = 120
    notify_batch_size: int = 100
    notify_concurrency: int = 16
    notice_unconfirmed_after_hours: int = 48
    receipt_secret: str = ""
    webhook_rotation_overlap_hours: int = 24
    public_subprocessor_list: bool = False  # publish /api/v1/public/subprocessors (no token)
    breach_default_notice: str = "72 hours"  # contracts silent on breach notices (GDPR Art. 33(2))
    audit_decision_due: str = "10 business days"  # docs/audits.md: the DPO's answer
    # reversibility and crypto-erasure (docs/reversibility.md, docs/adr/0004-crypto-erasure.md)
    master_key: str = ""  # base64 of 32 bytes; else VAR_DIR/keys/master.key (generated, 0600)
    kms_key_id: str = ""  # a KMS key id/ARN/alias, or "per-client"; empty: master key wraps
    kms_endpoint_url: str = ""
    kms_region: str = ""
    kms_deletion_window_days: int = 7
    backup_retention_days: int = 35
    download_link_ttl_hours: int = 72
    export_workers: int = 2
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
            worker_processes=max(1, int(e.get("WORKER_PROCESSES", "1"))),
            job_lease_seconds=int(e.get("JOB_LEASE_SECONDS", "300")),
            checkpoint_interval_seconds=int(e.get("CHECKPOINT_INTERVAL_SECONDS", "3600")),
            processor_name=e.get("PROCESSOR_NAME", "gdpr-vault processor"),
            processor_contact=e.get("PROCESSOR_CONTACT", ""),
            processor_dpo=e.get("PROCESSOR_DPO", ""),
            dpo_alert_email=e.get("DPO_ALERT_EMAIL", "dpo@processor.example"),
            dpo_alert_language=e.get("DPO_ALERT_LANGUAGE", "fr"),
            smtp_host=e.get("SMTP_HOST", "127.0.0.1"),
            smtp_port=int(e.get("SMTP_PORT", "25")),
            smtp_username=e.get("SMTP_USERNAME", ""),
            smtp_password=e.get("SMTP_PASSWORD", ""),
            smtp_security=e.get("SMTP_SECURITY", "none").strip().lower(),
            smtp_from=e.get("SMTP_FROM", "gdpr-vault@processor.example"),
            smtp_timeout_seconds=float(e.get("SMTP_TIMEOUT_SECONDS", "30")),
            webhook_timeout_seconds=float(e.get("WEBHOOK_TIMEOUT_SECONDS", "15")),
            notify_max_attempts=int(e.get("NOTIFY_MAX_ATTEMPTS", "8")),
            notify_backoff_base_seconds=float(e.get("NOTIFY_BACKOFF_BASE_SECONDS", "30")),
            notify_backoff_max_seconds=float(e.get("NOTIFY_BACKOFF_MAX_SECONDS", "21600")),
            notify_lease_seconds=int(e.get("NOTIFY_LEASE_SECONDS", "120")),
            notify_batch_size=int(e.get("NOTIFY_BATCH_SIZE", "100")),
            notify_concurrency=int(e.get("NOTIFY_CONCURRENCY", "16")),
            notice_unconfirmed_after_hours=int(e.get("NOTICE_UNCONFIRMED_AFTER_HOURS", "48")),
            receipt_secret=e.get("RECEIPT_SECRET", ""),
            webhook_rotation_overlap_hours=int(e.get("WEBHOOK_ROTATION_OVERLAP_HOURS", "24")),
            master_key=e.get("MASTER_KEY", ""),
            kms_key_id=e.get("KMS_KEY_ID", ""),
            kms_endpoint_url=e.get("KMS_ENDPOINT_URL", ""),
            kms_region=e.get("KMS_REGION", ""),
            kms_deletion_window_days=int(e.get("KMS_DELETION_WINDOW_DAYS", "7")),
            backup_retention_days=int(e.get("BACKUP_RETENTION_DAYS", "35")),
            download_link_ttl_hours=int(e.get("DOWNLOAD_LINK_TTL_HOURS", "72")),
            export_workers=int(e.get("EXPORT_WORKERS", "2")),
            public_subprocessor_list=_bool(e.get("PUBLIC_SUBPROCESSOR_LIST"), False),
            breach_default_notice=e.get("BREACH_DEFAULT_NOTICE", "72 hours"),
            audit_decision_due=e.get("AUDIT_DECISION_DUE", "10 business days"),
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
