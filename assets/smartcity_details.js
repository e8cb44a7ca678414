/* The map's details panel (app/console/ids.py MAP_DETAILS): the selected vehicle or incident,
 * drawn in the browser from the live city (assets/smartcity_live.js) and redrawn when a live
 * message changes it (and every 5 s: a status in words ages), so a live value crosses the wire
 * once. A vehicle gone from the live city keeps its last report, "offline (last seen …)". A vehicle's fixed details (make,
 * model, plate), which the live rows do not carry, are fetched once when it is selected
 * (GET /api/vehicles/<id>). Text from devices goes in as text, never as HTML. */
(function () {
    "use strict";

    const PANEL = "map-details";  // app/console/ids.py MAP_DETAILS
    const NOTHING = "Click a vehicle or an incident.";
    const STATUS_CELL = "map-vehicle-status";  // app/console/ids.py MAP_VEHICLE_STATUS
    const state = {kind: null, id: null, fixed: null, last: null};

    function live() { return window.smartcityLive; }

    function table(rows) {
        const t = document.createElement("table");
        t.className = "table table-sm table-borderless mb-0";
        const body = document.createElement("tbody");
        rows.forEach(([label, value, id]) => {
            const tr = document.createElement("tr"), th = document.createElement("th"), td = document.createElement("td");
            if (id) td.id = id;
            th.className = "pe-2";
            th.textContent = label;
            td.textContent = value === null || value === undefined ? "" : String(value);
            tr.append(th, td);
            body.appendChild(tr);
        });
        t.appendChild(body);
        return t;
    }

    /** When a vehicle last reported, as a time of day in the zone shown ("14:03:05 CET"; a fixed
     * time, not an age: an age would freeze in a panel redrawn when the vehicle reports). */
    function lastSeen(ms) {
        return typeof ms === "number" ? window.smartcityTime.clock(ms, true) : null;
    }

    /** The vehicle's status in words (assets/smartcity_status.js decides it): from the map, which
     * knows since when it stands still, while it is live; from its last report once it is gone. */
    function statusText(id, row, gone) {
        const map = window.smartcityMap, words = window.smartcityStatus, lv = live(), f = lv.model.vehicle_fields;
        if (!gone && map) {
            const st = map.status(id);
            if (st) return st.text;
        }
        if (!words || !lv.model.vehicle_states) return row[f.indexOf("status")];
        const at = (name) => row[f.indexOf(name)];
        return words.vehicleStatus(at("status"), at("speed"), at("ts"), null, lv.eventNow(), lv.model).text;
    }

    function vehicleRows(row, fixed, gone) {
        const f = live().model.vehicle_fields, at = (name) => row[f.indexOf(name)];
        const speed = at("speed"), heading = at("heading");
        const make = fixed ? [fixed.make, fixed.model].filter(Boolean).join(" ") : "";
        return [
            ["Vehicle", at("id")],
            ["Type", at("vehicle_type")],
            ["Make", make || null],
            ["Plate", fixed ? fixed.plate : null],
            ["Speed", typeof speed === "number" ? speed.toFixed(0) + " km/h" : null],
            ["Heading", typeof heading === "number" ? heading.toFixed(0) + "°" : null],
            ["Road", at("road_name")],
            ["Status", statusText(at("id"), row, gone), STATUS_CELL],
            ["Last seen", lastSeen(at("ts"))],
        ];
    }

    function incidentRows(inc) {
        return [["Incident", inc.id], ["Type", inc.incident_type], ["Severity", inc.severity], ["Status", inc.status],
                ["Description", inc.description]];
    }

    function render() {
        const panel = document.getElementById(PANEL), lv = live();
        if (!panel || !lv) return;
        let content;
        if (!state.kind) content = NOTHING;
        else if (state.kind === "vehicle") {  // one gone from the live city shows its last report, offline
            const row = lv.city.vehicles.get(state.id);
            if (row) state.last = row;
            content = state.last ? table(vehicleRows(state.last, state.fixed, !row))
                : "Vehicle " + state.id + " is not reporting.";
        } else {
            const inc = lv.city.incidents.get(state.id);
            content = inc && inc.status !== "Resolved" ? table(incidentRows(inc)) : "That incident is no longer active.";
        }
        if (typeof content === "string") panel.textContent = content;
        else panel.replaceChildren(content);
    }

    /** A new selection ("vehicle:<id>", "incident:<id>" or nothing). */
    function show(value) {
        const text = String(value || ""), cut = text.indexOf(":");
        const kind = cut > 0 ? text.slice(0, cut) : null, id = cut > 0 ? text.slice(cut + 1) : null;
        if (kind !== state.kind || id !== state.id) {
            Object.assign(state, {kind: kind, id: id, fixed: null, last: null});
            if (kind === "vehicle" && window.smartcityApi) {
                window.smartcityApi.call("GET", "/api/vehicles/" + encodeURIComponent(id)).then((body) => {
                    if (state.kind === "vehicle" && state.id === id) { state.fixed = body; render(); }
                }).catch(() => { /* gone, or the speed layer is down: the live row still shows */ });
            }
        }
        render();
    }

    function onLive(event) {
        const d = event.detail || {};
        if (!state.kind) return;
        const kind = state.kind === "vehicle" ? "vehicles" : "incidents";
        const touched = (d.changed && d.changed[kind].indexOf(state.id) >= 0) || (d.removed && d.removed[kind].indexOf(state.id) >= 0);
        if (d.snapshot || touched) render();
    }

    window.addEventListener("smartcity:live", onLive);
    window.addEventListener("smartcity:timezone", () => { if (state.kind) render(); });
    setInterval(() => { if (state.kind === "vehicle") render(); }, 5000);  // "last seen 3 min ago" ages
    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        smartcity_details: {
            show(value) { show(value); },
        },
    });
})();
