"""docker-compose.yml, checked statically (no Docker engine runs here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "docker-compose.yml").read_text()
SERVICES: dict[str, dict[str, Any]] = yaml.safe_load(TEXT)["services"]
LONG_RUNNING = [name for name, s in SERVICES.items() if s.get("restart") != "no"]


def test_every_part_of_the_topology_is_there() -> None:
    assert set(SERVICES) == {"kafka", "spark-master", "spark-worker-1", "spark-worker-2", "redis", "minio",
                             "minio-init", "producers", "spark-job", "console"}  # fmt: skip


@pytest.mark.parametrize("name", SERVICES)
def test_images_are_pinned(name: str) -> None:
    image = SERVICES[name]["image"]
    repo, _, tag = image.rpartition(":")
    assert repo and tag and tag != "latest" and "/" not in tag, image


def test_the_official_images_match_the_versions_used_natively() -> None:
    pom = (ROOT / "scripts" / "jars" / "kafka" / "pom.xml").read_text()
    kafka = re.search(r"<kafka.version>(.+)</kafka.version>", pom)
    assert kafka and SERVICES["kafka"]["image"] == f"apache/kafka:{kafka.group(1)}"
    pyspark = re.search(r"^pyspark==(.+)$", (ROOT / "requirements-distributed.txt").read_text(), re.M)
    spark_from = re.findall(r"^FROM (apache/spark:\S+)", (ROOT / "deploy" / "spark.Dockerfile").read_text(), re.M)
    assert pyspark and spark_from == [f"apache/spark:{pyspark.group(1)}-scala2.13-java17-python3-ubuntu"]


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_have_health_checks_or_wait_for_them(name: str) -> None:
    service = SERVICES[name]
    assert "healthcheck" in service or name in ("producers", "spark-job")
    for dependency, condition in service.get("depends_on", {}).items():
        wanted = "service_completed_successfully" if dependency == "minio-init" else "service_healthy"
        assert condition == {"condition": wanted}, (name, dependency)
        assert dependency in SERVICES


def test_every_setting_named_exists_and_every_variable_is_documented() -> None:
    settings = {f"SMARTCITY_{name.upper()}" for name in Settings.model_fields}
    assert set(re.findall(r"SMARTCITY_[A-Z0-9_]+", TEXT)) <= settings
    documented = (ROOT / ".env.example").read_text()
    for variable in set(re.findall(r"\$\{([A-Z0-9_]+)", TEXT)):
        assert variable in documented, variable


def test_redis_has_a_password_and_an_append_only_file() -> None:
    command = " ".join(SERVICES["redis"]["command"])
    assert "--requirepass" in command and "--appendonly yes" in command


def test_the_console_runs_under_the_production_server() -> None:
    command = SERVICES["console"]["command"]
    assert command[:3] == ["gunicorn", "-k", "gevent"] and command[-1] == "app:create_app()"
    config = command[command.index("-c") + 1]  # closes sockets on SIGTERM, refuses to run without credentials
    assert config == "app/gunicorn_conf.py" and (ROOT / config).is_file()
