from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.runtime import describe_url
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_documents_every_setting() -> None:
    documented = set(re.findall(r"SMARTCITY_[A-Z0-9_]+", (ROOT / ".env.example").read_text()))
    expected = {f"SMARTCITY_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTCITY_VEHICLES", "25")
    monkeypatch.setenv("SMARTCITY_TOPIC_GPS_DATA", "city.gps")
    monkeypatch.setenv("SMARTCITY_REDIS_URL", "redis://:hunter2@redis.internal:6380/2")
    s = Settings(_env_file=None)
    assert s.vehicles == 25
    assert s.topics()["gps_data"] == "city.gps"
    assert "hunter2" not in repr(s)  # secrets never end up in logs
    assert describe_url(s.secret("redis_url") or "") == "redis://redis.internal:6380/2"


def test_defaults_are_the_embedded_demo() -> None:
    s = Settings(_env_file=None)
    assert s.redis_url is None and s.lake_uri == "./data/lake"
