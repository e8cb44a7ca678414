"""The whole alert chain in the one-process demo, driven as strangers would: an admin draws a
zone, adds a rule and a webhook over HTTP; another company's tracker posts camelCase events
with a naive local clock; the hit is an alert in the inbox and a signed POST to the hook."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.demo import Demo
from tests.webhook_receiver import receiver, wait_for

TOKENS = "admin:chain-admin,ingest:chain-ingest,viewer:chain-viewer,operator:chain-operator"
# a square in Hamburg: far from the simulated city, so only the stranger's tracker enters it
HAMBURG = {
    "type": "Feature",
    "geometry": {"type": "Polygon", "coordinates": [[[9.98, 53.54], [10.01, 53.54], [10.01, 53.56], [9.98, 53.56],
                                                      [9.98, 53.54]]]},
    "properties": {"name": "Hafen"},
}  # fmt: skip


def call(demo: Demo, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{demo.url()}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_a_strangers_tracker_entering_a_zone_is_an_alert_in_the_inbox_and_a_signed_webhook(tmp_path: Path) -> None:
    with receiver("chain-secret") as hook:
        demo = Demo(tmp_path, "--vehicles", "5", SMARTCITY_API_TOKENS=TOKENS)
        try:
            status, zone = call(demo, "POST", "/api/zones", "chain-admin", HAMBURG)
            assert status == 201, zone
            rule = {"name": "trucks into the port", "kind": "zone_enter", "zone": zone["id"], "vehicle_type": "truck",
                    "severity": "high"}  # fmt: skip
            status, made = call(demo, "POST", "/api/rules", "chain-admin", rule)
            assert status == 201, made
            time.sleep(1.5)  # processors pick a rule-book change up within SMARTCITY_RULES_RELOAD_SECONDS (1 s)
            status, _ = call(demo, "POST", "/api/webhooks", "chain-admin",
                             {"url": hook.url, "secret": "chain-secret", "min_severity": "medium"})  # fmt: skip
            assert status == 201
            assert call(demo, "GET", "/api/webhooks", "chain-operator")[0] == 403  # admins only
            # another company's tracker: camelCase fields, a naive local clock, outside then inside
            start = datetime.now().replace(microsecond=0)  # naive: the city's local time
            for step, (lat, lon) in enumerate(((53.50, 9.90), (53.55, 9.995))):
                at = (start + timedelta(seconds=step)).isoformat()
                event = {"deviceId": "HH-TRK-7", "timestamp": at, "location": [lat, lon], "speed": 30 + step,
                         "vehicleType": "truck", "id": f"hh-7-{step}"}  # fmt: skip
                status, answer = call(demo, "POST", "/api/ingest/vehicle_data", "chain-ingest", event)
                assert status == 202, answer
                time.sleep(1.5)  # its own micro-batch: the engine sees it outside, then inside
            alerts = wait_for(lambda: call(demo, "GET", "/api/alerts?state=all", "chain-viewer")[1]["alerts"],
                              timeout=30, what="an alert in the inbox")  # fmt: skip
            assert [a["kind"] for a in alerts] == ["zone_enter"], (alerts, demo.log.text()[-3000:])
            delivered = wait_for(lambda: [d for d in hook.received() if d.alert.get("kind") == "zone_enter"],
                                 timeout=60, what="a webhook for the zone entry")  # fmt: skip
            alert = delivered[0].alert
            assert delivered[0].signed and alert["entity"] == "HH-TRK-7" and alert["severity"] == "high"
            assert alert["rule"] == made["id"]
            status, inbox = call(demo, "GET", "/api/alerts?state=unread", "chain-viewer")
            assert status == 200 and alert["id"] in [a["id"] for a in inbox["alerts"]]
            status, acked = call(demo, "POST", f"/api/alerts/{alert['id']}/acknowledge", "chain-operator")
            assert status == 200 and acked["acknowledged_by"]
            inbox = call(demo, "GET", "/api/alerts?state=unread", "chain-viewer")[1]
            assert alert["id"] not in [a["id"] for a in inbox["alerts"]]
        finally:
            demo.stop()
    assert demo.proc.returncode == 0, demo.log.text()[-3000:]
