/* The map's details panel (app/console/ids.py MAP_DETAILS): the selected vehicle or incident,
 * drawn in the browser from the live city (assets/smartcity_live.js) and redrawn when a live
 * message changes it, so a live value crosses the wire once. A vehicle's fixed details (make,
 * model, plate), which the live rows do not carry, are fetched once when it is selected
 * (GET /api/vehicles/<id>). Text from devices goes in as text, never as HTML. */
(function () {
    "use strict";

    const PANEL = "map-details";  // app/console/ids.py MAP_DETAILS
    const NOTHING = "Click a vehicle or an incident.";
    const state = {kind: null, id: null, fixed: null};

    function live() { return window.smartcityLive; }

    function table(rows) {
        const t = document.createElement("table");
        t.className = "table table-sm table-borderless mb-0";
        const body = document.createElement("tbody");
        rows.forEach(([label, value]) => {
            const tr = document.createElement("tr"), th = document.createElement("th"), td = document.createElement("td");
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

    function vehicleRows(row, fixed) {
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
            ["Status", at("status")],
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
        else if (state.kind === "vehicle") {
            const row = lv.city.vehicles.get(state.id);
            content = row ? table(vehicleRows(row, state.fixed)) : "Vehicle " + state.id + " is no longer reporting.";
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
            Object.assign(state, {kind: kind, id: id, fixed: null});
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
    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        smartcity_details: {
            show(value) { show(value); },
        },
    });
})();
