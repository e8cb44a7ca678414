/* Zones and alert rules (app/console/zones.py) over the REST API: GET/POST/DELETE /api/zones and
 * /api/rules. The zones are drawn, and drawn anew, by the map's layer owner
 * (window.smartcityMap, assets/smartcity_map.js); this file lists and saves them.
 * Names come from users: they are put into the page as TEXT (textContent). */
(function () {
    "use strict";

    const REFRESH_MS = 30000;
    const el = (id) => document.getElementById(id);
    const map = () => window.smartcityMap || null;
    const st = {zones: [], rules: []};

    function node(tag, cls, text) {
        const n = document.createElement(tag);
        if (cls) n.className = cls;
        if (text !== undefined && text !== null) n.textContent = String(text);
        return n;
    }

    function setProps(id, props) {
        const dc = window.dash_clientside;
        if (dc && dc.set_props && el(id)) dc.set_props(id, props);
    }

    /** assets/smartcity.js: the API as the console user (loaded before this file). */
    const call = (method, url, body) => window.smartcityApi.call(method, url, body);

    const zoneName = (f) => String(((f && f.properties) || {}).name || "");
    const zoneId = (f) => String(((f && f.properties) || {}).id || (f && f.id) || "");

    function listRows(box, rows, label, remove) {
        if (!box) return;
        const items = rows.map((row) => {
            const line = node("div", "d-flex align-items-center gap-2 py-1 border-bottom");
            line.appendChild(node("span", "me-auto", label(row)));
            const del = node("button", "btn btn-sm btn-outline-danger py-0", "Delete");
            del.type = "button";
            del.addEventListener("click", () => { del.disabled = true; remove(row); });
            line.appendChild(del);
            return line;
        });
        box.replaceChildren(...(items.length ? items : [node("div", "text-body-secondary", "None yet.")]));
    }

    // --- zones -------------------------------------------------------------------------------
    function zones() {
        return call("GET", "/api/zones").then((body) => {
            st.zones = (body && body.zones) || [];
            if (map()) map().zones(st.zones);
            listRows(el("zone-list"), st.zones, zoneName, (f) => {
                call("DELETE", "/api/zones/" + encodeURIComponent(zoneId(f)))
                    .then(() => say("zone-feedback", "Zone " + zoneName(f) + " deleted."))
                    .catch((e) => say("zone-feedback", "Not deleted: " + e.message))
                    .finally(zones);
            });
            const options = st.zones.map((f) => ({label: zoneName(f), value: zoneId(f)}));
            setProps("rule-zone", {options: options});
            return st.zones;
        }).catch(() => st.zones);  // no zones to draw: the map and the lists stay as they were
    }

    function say(id, text) {
        const box = el(id);
        if (box) box.textContent = text;
    }

    function draftNote(corners) {
        say("zone-feedback", corners < 3 ? "Click the map: " + corners + " of at least 3 corners."
            : corners + " corners. Name the zone, then Save.");
    }

    // --- rules -------------------------------------------------------------------------------
    function describe(rule) {
        const zone = st.zones.find((f) => zoneId(f) === rule.zone);
        const parts = [rule.name || rule.id, rule.kind];
        if (rule.zone) parts.push("zone " + (zone ? zoneName(zone) : rule.zone));
        if (rule.vehicle_type) parts.push(rule.vehicle_type);
        if (rule.threshold !== undefined && rule.threshold !== null) parts.push("threshold " + rule.threshold);
        if (rule.minutes) parts.push(rule.minutes + " min");
        parts.push(rule.severity);
        return parts.filter((p) => p !== undefined && p !== null && p !== "").join(" · ");
    }

    function rules() {
        if (!el("rule-list")) return Promise.resolve([]);
        return call("GET", "/api/rules").then((body) => {
            st.rules = Array.isArray(body) ? body : (body && body.rules) || [];
            listRows(el("rule-list"), st.rules, describe, (rule) => {
                call("DELETE", "/api/rules/" + encodeURIComponent(rule.id))
                    .then(() => say("rule-feedback", "Rule " + (rule.name || rule.id) + " deleted."))
                    .catch((e) => say("rule-feedback", "Not deleted: " + e.message))
                    .finally(rules);
            });
            return st.rules;
        }).catch((e) => { say("rule-list", "Rules unavailable: " + e.message); return []; });
    }

    const ZONE_KINDS = ["zone_enter", "zone_exit", "speed_in_zone"];

    /** The rule the form describes (the API's shape), or a reason it is not one yet. */
    function ruleOf(name, kind, zone, vehicleType, threshold, minutes, severity) {
        if (!name || !String(name).trim()) return "Give the rule a name.";
        const rule = {name: String(name).trim(), kind: kind, severity: severity || "high"};
        if (ZONE_KINDS.indexOf(kind) >= 0) {
            if (!zone) return "Choose a zone (draw one on the Map first).";
            rule.zone = zone;
            if (vehicleType) rule.vehicle_type = vehicleType;
        }
        if (kind !== "zone_enter" && kind !== "zone_exit") {
            if (threshold === null || threshold === undefined || threshold === "") return "Give a threshold.";
            rule.threshold = Number(threshold);
        }
        if (kind === "congestion" && minutes !== null && minutes !== undefined && minutes !== "") rule.minutes = Number(minutes);
        return rule;
    }

    window.smartcityZones = {zones: zones, rules: rules, ruleOf: ruleOf};

    const nu = () => window.dash_clientside.no_update;
    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        smartcity_zones: {
            draw(n) {
                if (!n || !map()) return nu();
                map().drawZone(true);
                return "Click the map: 0 of at least 3 corners.";
            },
            save(n, name) {
                if (!n || !map()) return [nu(), nu()];
                const corners = map().draft();
                if (!map().drawing() || corners.length < 3) return ["Draw the zone first: at least 3 corners on the map.", nu()];
                if (!name || !String(name).trim()) return ["Name the zone.", nu()];
                const ring = corners.map((p) => [p[1], p[0]]);  // GeoJSON: lon, lat; the ring closed
                ring.push(ring[0].slice());
                const feature = {type: "Feature", properties: {name: String(name).trim()},
                    geometry: {type: "Polygon", coordinates: [ring]}};
                return call("POST", "/api/zones", feature).then(() => {
                    map().drawZone(false);
                    return zones().then(() => ["Zone " + feature.properties.name + " saved.", ""]);
                }).catch((e) => ["Not saved: " + e.message, nu()]);
            },
            cancel(n) {
                if (!n || !map()) return nu();
                map().drawZone(false);
                return "Drawing cancelled.";
            },
            addRule(n, name, kind, zone, vehicleType, threshold, minutes, severity) {
                if (!n) return nu();
                const rule = ruleOf(name, kind, zone, vehicleType, threshold, minutes, severity);
                if (typeof rule === "string") return rule;
                return call("POST", "/api/rules", rule)
                    .then(() => rules().then(() => "Rule " + rule.name + " added."))
                    .catch((e) => "Not added: " + e.message);
            },
            /** The zone list or the rules form is on the page: fill them. */
            zonesShown() { zones(); return nu(); },
            rulesShown() { zones().then(rules); return nu(); },
        },
    });

    window.addEventListener("smartcity:draft", (e) => draftNote(e.detail.corners));

    function start() {
        if (!document.getElementById("smartcity-live-model")) return;  // the login page
        zones();
        setInterval(zones, REFRESH_MS);
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
})();
