"""Webhooks: what a hook may be, who may manage them, secrets never shown, signatures, the
severity filter and the System tab's panel. Deliveries themselves: tests/integration/test_webhooks.py."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import fakeredis
import orjson
import pytest
from flask import Flask

from app import dispatcher
from app.console import system
from app.webhooks import MAX_URL_LENGTH, Hook, Webhooks, delivery_id, parse_hook, signature

GOOD = {"url": "https://ops.example.com/hooks/smartcity?team=7", "secret": "s3cret", "min_severity": "high"}
TOKENS = {"viewer": "viewer-token", "operator": "operator-token", "admin": "admin-token", "ingest": "ingest-token"}

HOSTILE: list[tuple[Any, str]] = [
    (None, "JSON object"),
    ([GOOD], "JSON object"),
    ("https://ops.example.com", "JSON object"),
    ({k: v for k, v in GOOD.items() if k != "secret"}, "missing field(s): secret"),
    ({**GOOD, "admin": True}, "unknown field(s): 'admin'"),
    ({**GOOD, "url": "ftp://ops.example.com/"}, "http:// or https://"),
    ({**GOOD, "url": "HTTPS://ops.example.com/"}, "http:// or https://"),
    ({**GOOD, "url": "javascript:alert(1)"}, "http:// or https://"),
    ({**GOOD, "url": "file:///etc/passwd"}, "http:// or https://"),
    ({**GOOD, "url": "https://"}, "must name a host"),
    ({**GOOD, "url": "https://user:pw@ops.example.com/"}, "credentials"),
    ({**GOOD, "url": "https://ops.example.com:99999/"}, "not a URL"),
    ({**GOOD, "url": "https://ops.example.com:http/"}, "not a URL"),
    ({**GOOD, "url": "https://ops example.com/"}, "printable ASCII"),
    ({**GOOD, "url": "https://ops.example.com/\r\nX-Evil: 1"}, "printable ASCII"),
    ({**GOOD, "url": "https://ops.exämple.com/"}, "printable ASCII"),
    ({**GOOD, "url": "https://[::1/"}, "not a URL"),
    ({**GOOD, "url": "https://[nope]/"}, "not a URL"),
    ({**GOOD, "url": "https://ops_example.com/"}, "host must be a name"),
    ({**GOOD, "url": "https://" + "a" * MAX_URL_LENGTH}, "1 to 2048 characters"),
    ({**GOOD, "url": ""}, "1 to 2048 characters"),
    ({**GOOD, "url": 42}, "url must be a string"),
    ({**GOOD, "secret": ""}, "secret must be a string of 1 to 256"),
    ({**GOOD, "secret": "x" * 257}, "secret must be a string of 1 to 256"),
    ({**GOOD, "secret": ["s"]}, "secret must be a string"),
    ({**GOOD, "secret": "\ud800"}, "valid Unicode"),
    ({**GOOD, "min_severity": "urgent"}, "min_severity must be one of low, medium, high, critical"),
    ({**GOOD, "min_severity": None}, "min_severity must be one of"),
    ({**GOOD, "rules": []}, "rules must be a list of 1 to 100 rule ids"),
    ({**GOOD, "rules": "r-1"}, "rules must be a list"),
    ({**GOOD, "rules": None}, "rules must be a list"),
    ({**GOOD, "rules": [f"r-{i}" for i in range(101)]}, "rules must be a list of 1 to 100"),
    ({**GOOD, "rules": [1]}, "rules must hold rule ids"),
    ({**GOOD, "rules": [""]}, "rules must hold rule ids"),
    ({**GOOD, "rules": ["r-1", "r-1"]}, "each rule once"),
]


@pytest.mark.parametrize(("body", "reason"), HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_a_hostile_hook_is_refused_with_the_reason(body: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=None) as refused:
        parse_hook(body)
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "https://[::1]:8443/h", "https://hooks.example.com.", "http://localhost"]
)
def test_http_and_https_urls_of_names_and_addresses_are_hooks(url: str) -> None:
    assert parse_hook({**GOOD, "url": url})["url"] == url


def test_the_signature_is_the_hex_hmac_sha256_of_the_body() -> None:
    body = b'{"id":"a-1"}'
    assert signature("key", body) == "sha256=" + hmac.new(b"key", body, hashlib.sha256).hexdigest()


def test_the_delivery_id_is_stable_per_alert_and_hook_and_fits_a_header() -> None:
    assert delivery_id("h1", "incident:x\r\ny") == delivery_id("h1", "incident:x\r\ny")
    assert delivery_id("h1", "a") != delivery_id("h2", "a") != delivery_id("h1", "b")
    assert delivery_id("h1", "\ud800").isalnum()


def test_a_hook_wants_its_severity_and_above_only() -> None:
    hook = Hook("h", "http://x", "s", "medium")
    wanted = [s for s in ("low", "medium", "high", "critical", "unknown", None, 3) if hook.wants(s)]
    assert wanted == ["medium", "high", "critical"]


def test_a_hook_with_rules_wants_only_their_alerts_still_from_its_severity() -> None:
    hook = Hook("h", "http://x", "s", "medium", frozenset({"r-1", "r-2"}))
    assert hook.wants("high", "r-1") and hook.wants("medium", "r-2")
    assert not hook.wants("low", "r-1")  # below its severity, though its rule's
    assert not hook.wants("critical", "r-3") and not hook.wants("critical", None)  # another rule's; no rule's
    every = Hook("h", "http://x", "s", "medium")  # no rules: as before rules existed
    assert every.wants("high", "r-3") and every.wants("high", None) and not every.wants("low", "r-1")


def test_rules_are_kept_only_when_given() -> None:
    assert "rules" not in parse_hook(GOOD)
    assert parse_hook({**GOOD, "rules": ["r-1", "r-2"]})["rules"] == ["r-1", "r-2"]


def test_a_hook_stored_before_rules_existed_still_takes_every_alert() -> None:
    hooks = Webhooks(fakeredis.FakeRedis())
    old = {"id": "old", **GOOD, "created_at": "2026-11-01T08:00:00+00:00", "created_by": "ada"}  # no "rules" key
    hooks.client.hset(hooks.hooks_key, "old", orjson.dumps(old))
    new_id = hooks.add(parse_hook({**GOOD, "rules": ["r-1"]}), "ada")
    assert new_id is not None
    got = hooks.hooks()
    assert got["old"].rules is None and got["old"].wants("high", "r-9") and got["old"].wants("critical", None)
    assert got[new_id].rules == frozenset({"r-1"}) and not got[new_id].wants("high", "r-9")
    listed = {h["id"]: h["rules"] for h in hooks.listing()}
    assert listed == {"old": None, new_id: ["r-1"]}


def admin(app: Flask, method: str, path: str, body: Any = None, role: str = "admin") -> Any:
    return app.test_client().open(path, method=method, json=body, headers={"Authorization": f"Bearer {TOKENS[role]}"})


def test_admins_add_list_and_delete_hooks_and_each_change_is_audited(app: Flask) -> None:
    dispatcher(app).stop()  # nothing to send here
    made = admin(app, "POST", "/api/webhooks", GOOD)
    assert made.status_code == 201
    hook_id = made.json["id"]
    (listed,) = admin(app, "GET", "/api/webhooks").json["webhooks"]
    assert listed["id"] == hook_id and listed["url"] == GOOD["url"] and listed["min_severity"] == "high"
    assert listed["secret"] == "set" and listed["created_by"] == "token:admin"
    assert listed["status"] == {"delivered": 0, "failed": 0, "failed_attempts": 0, "last_outcome": None,
                                "last_status": None, "last_error": None, "last_at": None}  # fmt: skip
    assert admin(app, "DELETE", f"/api/webhooks/{hook_id}").status_code == 204
    assert admin(app, "DELETE", f"/api/webhooks/{hook_id}").status_code == 404
    assert admin(app, "GET", "/api/webhooks").json["webhooks"] == []
    entries = admin(app, "GET", "/api/audit").json["entries"]
    assert [(e["action"], e["webhook"]) for e in entries[:2]] == [("webhook_delete", hook_id),
                                                                   ("webhook_create", hook_id)]  # fmt: skip
    assert {e["url"] for e in entries[:2]} == {"https://ops.example.com"}  # the path may be a secret


def test_a_secret_is_never_answered(app: Flask) -> None:
    dispatcher(app).stop()
    admin(app, "POST", "/api/webhooks", {**GOOD, "secret": "very-secret-text"})
    for path in ("/api/webhooks", "/api/audit"):
        assert b"very-secret-text" not in admin(app, "GET", path).data


@pytest.mark.parametrize("role", ["viewer", "operator", "ingest"])
def test_only_admins_manage_hooks(app: Flask, role: str) -> None:
    dispatcher(app).stop()
    assert admin(app, "POST", "/api/webhooks", GOOD, role).status_code == 403
    assert admin(app, "GET", "/api/webhooks", None, role).status_code == 403
    assert admin(app, "DELETE", "/api/webhooks/x", None, role).status_code == 403
    assert app.test_client().get("/api/webhooks").status_code == 401


def test_a_hook_for_rules_names_rules_that_exist(app: Flask) -> None:
    dispatcher(app).stop()
    rule = admin(app, "POST", "/api/rules", {"name": "smog", "kind": "aqi", "threshold": 150, "severity": "high"})
    assert rule.status_code == 201
    rule_id = rule.json["id"]
    unknown = admin(app, "POST", "/api/webhooks", {**GOOD, "rules": [rule_id, "r-nope"]})
    assert unknown.status_code == 400 and unknown.json["error"]["message"].startswith("no rule 'r-nope'")
    assert admin(app, "GET", "/api/webhooks").json["webhooks"] == []  # nothing stored
    made = admin(app, "POST", "/api/webhooks", {**GOOD, "rules": [rule_id]})
    assert made.status_code == 201
    every = admin(app, "POST", "/api/webhooks", GOOD)
    listed = {h["id"]: h["rules"] for h in admin(app, "GET", "/api/webhooks").json["webhooks"]}
    assert listed == {made.json["id"]: [rule_id], every.json["id"]: None}
    entry = admin(app, "GET", "/api/audit").json["entries"][1]
    assert entry["action"] == "webhook_create" and entry["rules"] == rule_id


def test_a_hostile_body_is_a_400_saying_why(app: Flask) -> None:
    dispatcher(app).stop()
    resp = admin(app, "POST", "/api/webhooks", {**GOOD, "url": "gopher://x/"})
    assert resp.status_code == 400 and "http:// or https://" in resp.json["error"]["message"]
    not_json = app.test_client().post("/api/webhooks", data="url=x", headers={"Authorization": "Bearer admin-token"})
    assert not_json.status_code == 400


def test_the_app_starts_its_dispatcher_with_its_first_request_and_stops_it(app: Flask) -> None:
    sender = dispatcher(app)
    assert not sender.running
    admin(app, "GET", "/api/webhooks")
    assert sender.running
    sender.stop()
    assert not sender.running
    admin(app, "GET", "/api/webhooks")
    assert not sender.running  # stopped for good


def test_the_system_panel_shows_each_hooks_status_by_host_and_the_dead_letters() -> None:
    hooks = Webhooks(fakeredis.FakeRedis())
    hook_id = hooks.add(parse_hook({**GOOD, "url": "https://hooks.example.com/T0/B0/secretpath"}), "ada")
    assert hook_id is not None
    hooks.record(hook_id, "retrying", 503, "HTTP 503")
    hooks.record(hook_id, "failed", None, "no answer within 5 s")
    alert = b'{"id":"a-1","kind":"aqi","severity":"high","message":"AQI 180 at ws-3"}'
    hooks.dead_letter(alert, hook_id, 5, "no answer within 5 s")
    shown = " ".join(_texts(system.webhook_panel(hooks.listing(), hooks.dead_letters())))
    assert "https://hooks.example.com" in shown and "secretpath" not in shown
    assert "failed" in shown and "no answer within 5 s" in shown and "high aqi: AQI 180 at ws-3" in shown
    assert "every rule" in shown  # a hook without rules
    assert "No webhooks" in " ".join(_texts(system.webhook_panel([], [])))
    assert "does not answer" in " ".join(_texts(system.webhook_panel(None, None)))


def test_the_system_panel_names_the_rules_of_each_hook() -> None:
    hooks = Webhooks(fakeredis.FakeRedis())
    hooks.add(parse_hook({**GOOD, "rules": ["r-1", "r-gone"]}), "ada")
    names = {"r-1": "trucks into the port"}
    shown = " ".join(_texts(system.webhook_panel(hooks.listing(), [], rules=names)))
    assert "trucks into the port" in shown and "deleted rule (r-gone)" in shown and "every rule" not in shown


def test_a_status_is_not_recorded_for_a_hook_deleted_meanwhile() -> None:
    hooks = Webhooks(fakeredis.FakeRedis())
    hook_id = hooks.add(parse_hook(GOOD), "ada")
    assert hook_id is not None and hooks.delete(hook_id) is not None
    hooks.record(hook_id, "delivered", 200, None)
    assert not hooks.client.exists(hooks.status_key(hook_id))


def _texts(component: Any) -> list[str]:
    if isinstance(component, str | int | float):
        return [str(component)]
    if isinstance(component, list | tuple):
        return [t for c in component for t in _texts(c)]
    children = getattr(component, "children", None)
    return _texts(children) if children is not None else []
