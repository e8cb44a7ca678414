"""The alert inbox, zones and rules in the console's layout (no browser): on every tab for
everyone, the drawing and rule tools for admins only, nothing of it a server callback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, session

from app.console import ids, inbox, layout, system
from app.console import map as map_tab
from tests.unit.test_console import component_ids


@pytest.fixture
def as_role(app: Flask) -> Iterator[Flask]:
    with app.test_request_context("/"):
        yield app


def page_ids(role: str) -> list[str]:
    session["role"] = role
    return [str(i) for i in component_ids(layout.build())]


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_the_bell_and_its_count_are_on_the_navbar_for_every_role(as_role: Flask, role: str) -> None:
    session["role"] = role
    navbar = [str(i) for i in component_ids(layout.navbar())]
    assert ids.INBOX_BELL in navbar and ids.INBOX_COUNT in navbar and ids.INBOX_STALE in navbar
    assert ids.INBOX_PANEL in page_ids(role) and ids.INBOX_TOASTS in page_ids(role)
    box = inbox.bell(role)
    assert getattr(box, "data-role") == role  # the browser shows Acknowledge to operators and admins only


def test_sound_is_on_until_switched_off_and_remembered_per_browser(as_role: Flask) -> None:
    switch = inbox.sound_switch().children[0]
    assert switch.id == ids.SHELL_SOUND
    assert switch.value is True and switch.persistence is True and switch.persistence_type == "local"


def test_the_old_per_incident_alerts_are_gone(as_role: Flask) -> None:
    assert ids.EMERGENCY_ALERT not in page_ids("operator")


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_get_zone_and_rule_tools(as_role: Flask, role: str) -> None:
    session["role"] = role
    assert ids.ZONE_PANEL not in [str(i) for i in component_ids(map_tab.layout())]
    assert ids.RULE_SECTION not in [str(i) for i in component_ids(system.layout())]
    session["role"] = "admin"
    assert ids.ZONE_DRAW in [str(i) for i in component_ids(map_tab.layout())]
    found = [str(i) for i in component_ids(system.layout())]
    for needed in (ids.RULE_KIND, ids.RULE_ZONE, ids.RULE_VEHICLE_TYPE, ids.RULE_THRESHOLD, ids.RULE_MINUTES,
                   ids.RULE_SEVERITY, ids.RULE_ADD):  # fmt: skip
        assert needed in found


def test_no_server_callback_serves_the_inbox_zones_or_rules(app: Flask) -> None:
    c = app.test_client()
    c.get("/login?token=admin-token")
    deps = c.get("/_dash-dependencies").json
    server_side = [d["output"] for d in deps if d.get("clientside_function") is None]
    for out in server_side:
        assert not any(p in out for p in ("inbox-", "zone-", "rule-")), out
