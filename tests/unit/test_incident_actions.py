"""Incidents as operators work them: assignment, notes, their history, the resolved list.

tests/integration/test_incidents_redis.py runs these same tests on a real redis-server and a
Redis Cluster.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from redis.cluster import RedisCluster

from app.actions import NAME_CHARS, NOTE_CHARS
from app.api.routing import INCIDENT_ACTIONS
from app.store import Store
from pipeline.speed_layer import SpeedLayer
from tests.city import rec
from tests.unit.test_api_ids import ODD_IDS, encoded

OPERATOR = {"Authorization": "Bearer operator-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}
ADMIN = {"Authorization": "Bearer admin-token"}


def speed_of(app: Flask) -> SpeedLayer:
    store: Store = app.extensions["smartcity.store"]
    return store.speed


def post(app: Flask, path: str, body: Any = None, headers: dict[str, str] = OPERATOR) -> Any:
    return app.test_client().post(path, json=body, headers=headers)


def get(app: Flask, path: str, headers: dict[str, str] = VIEWER) -> Any:
    return app.test_client().get(path, headers=headers)


def test_an_incident_is_acknowledged_assigned_noted_and_resolved_with_its_whole_history(app: Flask) -> None:
    base = "/api/emergency/incidents/i-1"
    assert post(app, f"{base}/acknowledge").status_code == 200
    assigned = post(app, f"{base}/assign", {"user": "olga"})
    assert assigned.status_code == 200 and assigned.json["assigned_to"] == "olga"
    noted = post(app, f"{base}/notes", {"text": "  Second engine on its way\nroad closed  "})
    assert noted.status_code == 201
    assert noted.json["notes"][-1]["text"] == "Second engine on its way\nroad closed"  # trimmed, lines kept
    assert post(app, f"{base}/resolve").status_code == 202

    inc = get(app, base).json
    assert inc["status"] == "Resolved" and inc["assigned_to"] == "olga"
    assert inc["acknowledged_by"] == "token:operator" and inc["acknowledged_at"]
    assert [(n["user"], n["text"]) for n in inc["notes"]] == [
        ("token:operator", "Second engine on its way\nroad closed")
    ]
    history = inc["history"]
    assert [h["event"] for h in history] == ["reported", "acknowledged", "assigned", "noted", "resolved"]
    assert history[0]["by"] == "u1" and history[2]["to"] == "olga" and history[4]["by"] == "operator:token:operator"
    times = [datetime.fromisoformat(h["at"]) for h in history]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)

    audit = get(app, "/api/audit", ADMIN).json["entries"]
    note = "Second engine on its way\nroad closed"
    assert [(e["action"], e.get("assignee"), e.get("note")) for e in audit][:3] == [
        ("resolve", None, None), ("note", None, note), ("assign", "olga", None)]  # fmt: skip
    assert all(e["incident"] == "i-1" and e["user"] == "token:operator" for e in audit)


def test_the_active_list_carries_who_acknowledged_and_who_is_assigned(app: Flask) -> None:
    post(app, "/api/emergency/incidents/i-1/acknowledge")
    post(app, "/api/emergency/incidents/i-1/assign", {"user": "ada"})
    body = get(app, "/api/emergency/incidents").json
    assert set(body) == {"count", "incidents"} and body["count"] == 1  # the default call's shape, unchanged
    (inc,) = body["incidents"]
    assert inc["assigned_to"] == "ada" and inc["acknowledged_by"] == "token:operator"
    assert "notes" not in inc and "history" not in inc  # the list stays light


@pytest.mark.parametrize(
    ("action", "body", "message"),
    [
        ("assign", None, f'"user": a user name (1 to {NAME_CHARS} characters)'),
        ("assign", ["olga"], '"user"'),
        ("assign", {"user": 7}, '"user"'),
        ("assign", {"user": "   "}, f"1 to {NAME_CHARS} characters (0 given)"),
        ("assign", {"user": "o" * (NAME_CHARS + 1)}, f"1 to {NAME_CHARS} characters ({NAME_CHARS + 1} given)"),
        ("assign", {"user": "olga\nada"}, "one line of printable text"),
        ("notes", {"text": ""}, f"1 to {NOTE_CHARS} characters (0 given)"),
        ("notes", {"text": "x" * (NOTE_CHARS + 1)}, f"1 to {NOTE_CHARS} characters ({NOTE_CHARS + 1} given)"),
        ("notes", {"note": "hi"}, f'"text": the note\'s text (1 to {NOTE_CHARS} characters)'),
    ],
)  # fmt: skip
def test_a_bad_body_is_a_400_saying_the_bounds_and_changes_nothing(
    app: Flask, action: str, body: Any, message: str
) -> None:
    resp = post(app, f"/api/emergency/incidents/i-1/{action}", body)
    assert resp.status_code == 400 and message in resp.json["error"]["message"], resp.json
    inc = get(app, "/api/emergency/incidents/i-1").json
    assert "assigned_to" not in inc and inc["notes"] == [] and [h["event"] for h in inc["history"]] == ["reported"]
    assert get(app, "/api/audit", ADMIN).json["entries"] == []


def test_viewers_read_an_incident_but_neither_assign_nor_note(app: Flask) -> None:
    assert get(app, "/api/emergency/incidents/i-1").status_code == 200
    assert post(app, "/api/emergency/incidents/i-1/assign", {"user": "vic"}, VIEWER).status_code == 403
    assert post(app, "/api/emergency/incidents/i-1/notes", {"text": "hi"}, VIEWER).status_code == 403
    assert post(app, "/api/emergency/incidents/nope/assign", {"user": "vic"}).status_code == 404
    assert post(app, "/api/emergency/incidents/nope/notes", {"text": "hi"}).status_code == 404
    missing = get(app, "/api/emergency/incidents/nope")
    assert missing.status_code == 404 and "'nope'" in missing.json["error"]["message"]


def test_resolved_incidents_are_listed_newest_first_and_filtered(app: Flask) -> None:
    speed_of(app).write(
        [
            rec("emergency_data", 400, device_id="u3", incidentId="old-fire", incident_type="fire", status="Active",
                location=[52.44, 13.52], severity="high"),
            rec("emergency_data", 300, device_id="u3", incidentId="old-fire", incident_type="fire", status="Resolved",
                location=[52.44, 13.52], severity="high"),
            rec("emergency_data", 100, device_id="u4", incidentId="new-fire", incident_type="fire", status="Active",
                location=[52.44, 13.52], severity="critical"),
            rec("emergency_data", 5, device_id="u4", incidentId="new-fire", incident_type="fire", status="Resolved",
                location=[52.44, 13.52], severity="critical"),
        ]
    )  # fmt: skip

    def ids(query: str) -> list[str]:
        body = get(app, f"/api/emergency/incidents?{query}").json
        assert body["count"] == len(body["incidents"])
        return [i["id"] for i in body["incidents"]]

    assert ids("status=resolved") == ["new-fire", "i-2", "old-fire"]  # most recently resolved first
    assert ids("status=resolved&type=fire") == ["new-fire", "old-fire"]
    assert ids("status=resolved&type=fire&severity=high") == ["old-fire"]
    since = (datetime.now(UTC) - timedelta(seconds=60)).isoformat()
    assert ids(f"status=resolved&since={since.replace('+', '%2B')}") == ["new-fire", "i-2"]
    assert ids("status=resolved&type=fire&limit=1") == ["new-fire"]
    assert ids("status=all&type=fire") == ["i-1", "new-fire", "old-fire"]  # active ones first, as before
    assert ids("type=flood") == []
    bad = get(app, "/api/emergency/incidents?severity=dire")
    assert bad.status_code == 400 and "low, medium, high, critical" in bad.json["error"]["message"]
    assert get(app, "/api/emergency/incidents?since=yesterday").status_code == 400


def test_a_replayed_event_adds_no_history_and_a_reopened_incident_says_so(app: Flask) -> None:
    speed = speed_of(app)
    batch = [
        rec("emergency_data", 20, device_id="u7", incidentId="i-7", incident_type="flood", status="Active",
            location=[52.44, 13.52]),
        rec("emergency_data", 10, device_id="u7", incidentId="i-7", incident_type="flood", status="Resolved",
            location=[52.44, 13.52]),
    ]  # fmt: skip
    speed.write(batch)
    speed.write(batch)  # the same events again (a replay after a restart)
    assert [h["event"] for h in speed.incident_log("i-7")] == ["reported", "resolved"]
    speed.write([rec("emergency_data", 1, device_id="u8", incidentId="i-7", incident_type="flood", status="Active",
                     location=[52.44, 13.52])])  # fmt: skip
    assert [(h["event"], h["by"]) for h in speed.incident_log("i-7")] == [
        ("reported", "u7"), ("resolved", "u7"), ("reopened", "u8")]  # fmt: skip


def test_an_incident_history_lives_exactly_as_long_as_the_incident(app: Flask) -> None:
    speed = speed_of(app)
    client: redis.Redis | RedisCluster = speed.client
    keys = speed.keys_of("i-1")
    log, entity = keys.incident_log("i-1"), keys.entity("i", "i-1")
    post(app, "/api/emergency/incidents/i-1/notes", {"text": "on it"})
    assert client.pttl(log) == -1 and client.pttl(entity) == -1  # active: kept
    post(app, "/api/emergency/incidents/i-1/resolve")
    assert client.pttl(entity) > 0 and abs(client.pttl(log) - client.pttl(entity)) < 1000  # both go a day on
    post(app, "/api/emergency/incidents/i-1/notes", {"text": "closed, report filed"})  # a note after
    assert client.pttl(log) > 0 and abs(client.pttl(log) - client.pttl(entity)) < 1000


def test_an_incident_history_is_capped(app: Flask) -> None:
    speed = speed_of(app)
    cap = speed.config.incident_log_len
    for n in range(cap + 5):
        assert speed.annotate_incident("i-1", {}, {"event": "noted", "by": "olga", "at": n, "text": str(n)})
    lines = speed.incident_log("i-1")
    assert len(lines) == cap and lines[-1]["text"] == str(cap + 4) and lines[0]["text"] == "5"  # the newest kept


def test_a_note_on_an_expired_incident_is_not_kept(app: Flask) -> None:
    speed = speed_of(app)
    assert not speed.annotate_incident("gone", {}, {"event": "noted", "by": "olga", "at": 1, "text": "hi"})
    assert speed.incident_log("gone") == []


@pytest.mark.parametrize("entity_id", ODD_IDS, ids=repr)
def test_an_incident_of_any_id_is_assigned_noted_and_read(app: Flask, entity_id: str) -> None:
    speed_of(app).write([rec("emergency_data", 30, device_id="u1", incidentId=entity_id, incident_type="fire",
                             status="Active", location=[52.44, 13.52])])  # fmt: skip
    path = f"/api/emergency/incidents/{encoded(entity_id)}"
    assigned = post(app, f"{path}/assign", {"user": "olga"})
    assert assigned.status_code == 200 and assigned.json["id"] == entity_id
    noted = post(app, f"{path}/notes", {"text": entity_id.strip() or "blank"})
    assert noted.status_code == 201 and [h["event"] for h in noted.json["history"]] == ["reported", "assigned", "noted"]
    read = get(app, path)
    if any(entity_id.endswith(f"/{action}") for action in INCIDENT_ACTIONS):
        assert read.status_code == 405  # the action's URL; the list reads such an incident
    else:
        assert read.status_code == 200 and read.json["id"] == entity_id and read.json["assigned_to"] == "olga"
    # no other incident got its lines
    assert [h["event"] for h in get(app, "/api/emergency/incidents/i-1").json["history"]] == ["reported"]
