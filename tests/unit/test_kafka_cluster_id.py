"""The native cluster's KRaft cluster ids."""

from __future__ import annotations

import base64
import uuid

import pytest

from cluster.kafka import new_cluster_id


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xf8…: base64url "-…", which kafka-storage's argument parser reads as an option
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x12" * 16)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))
    cluster_id = new_cluster_id()
    assert cluster_id == base64.urlsafe_b64encode(b"\x12" * 16).rstrip(b"=").decode()
    assert len(cluster_id) == 22 and not cluster_id.startswith("-")
