/* Clientside code of the Smart City console: one namespace, window.dash_clientside.smartcity.
 * Every string that came from a device or a user is put into the page as TEXT
 * (textContent), never as HTML — tooltips included. */
(function () {
    "use strict";

    const SEVERITY = {low: "#6c757d", medium: "#0dcaf0", high: "#fd7e14", critical: "#dc3545"};
    const CONGESTION = {free: "#2ca02c", light: "#98df8a", moderate: "#ffbf00", heavy: "#ff7f0e", severe: "#d62728"};
    const POLL_RETRY_MS = 10000;
    let lastFeedAt = null;
    let pollSince = null;  // when the poll in flight was sent; null when none is

    /** A tooltip element made of text lines: safe whatever the strings contain. */
    function textTip(lines) {
        const div = document.createElement("div");
        lines.filter((l) => l !== null && l !== undefined && l !== "").forEach((line, i) => {
            if (i > 0) div.appendChild(document.createElement("br"));
            div.appendChild(document.createTextNode(String(line)));
        });
        return div;
    }

    function circle(latlng, colour, radius, tip) {
        const marker = L.circleMarker(latlng, {
            radius: radius, color: "#222", weight: 1, fillColor: colour, fillOpacity: 0.9,
        });
        marker.bindTooltip(textTip(tip));
        return marker;
    }

    const ns = {
        // The live vehicle markers by id (a later push client moves these in place).
        markers: {},

        // --- dash-leaflet GeoJSON functions (feature, latlng, context) ---------------------
        vehiclePoint(feature, latlng, context) {
            const p = feature.properties;
            const colours = (context && context.hideout && context.hideout.colours) || {};
            const marker = circle(latlng, colours[p.type] || "#777", 5, [
                p.id + " (" + p.type + ")", p.speed + " km/h", p.road, p.status,
            ]);
            ns.markers[p.id] = marker;
            return marker;
        },
        vehicleFilter(feature, context) {
            const types = context && context.hideout && context.hideout.types;
            return !types || types.indexOf(feature.properties.type) >= 0;
        },
        incidentPoint(feature, latlng) {
            const p = feature.properties;
            const marker = circle(latlng, SEVERITY[p.severity] || "#dc3545", 9, [
                (p.incident_type || "incident") + " · " + (p.severity || "?"), p.description, p.status,
            ]);
            marker.setStyle({weight: 2, color: "#000"});
            return marker;
        },
        sensorPoint(feature, latlng) {
            const p = feature.properties;
            return circle(latlng, CONGESTION[p.congestion_level] || "#999", 5, [
                "sensor " + (p.camera_id || p.id), p.road_name, (p.congestion_level || "?") + " · " + p.speed + " km/h",
            ]);
        },
        stationPoint(feature, latlng) {
            const p = feature.properties;
            const m = L.circleMarker(latlng, {radius: 7, color: "#0d6efd", weight: 2, fillColor: "#fff", fillOpacity: 1});
            m.bindTooltip(textTip(["weather " + p.id, p.weather_condition,
                p.temperature + " °C", "AQI " + p.airQualityIndex]));
            return m;
        },
        roadStyle(feature, context) {
            const levels = (context && context.hideout && context.hideout.levels) || {};
            const key = feature.id !== undefined ? feature.id : (feature.properties || {}).id;
            const level = levels[key];
            return level ? {color: CONGESTION[level], weight: 5, opacity: 0.9}
                         : {color: "#7a8599", weight: 3, opacity: 0.7};
        },

        // --- clientside callbacks ------------------------------------------------------------
        passThrough(data) {
            ns.markers = {};  // the layer is rebuilt from this data
            return data || {type: "FeatureCollection", features: []};
        },
        rowsToPoints(rows) {
            const features = (rows || []).filter((r) => r.lat !== undefined && r.lon !== undefined).map((r) => ({
                type: "Feature", geometry: {type: "Point", coordinates: [r.lon, r.lat]}, properties: r,
            }));
            return {type: "FeatureCollection", features: features};
        },
        roadLevels(rows, hideout) {
            const levels = {};
            (rows || []).forEach((r) => {
                if (r.segment_id && r.congestion_level) levels[r.segment_id] = r.congestion_level;
            });
            const old = (hideout && hideout.levels) || {};
            if (JSON.stringify(old) === JSON.stringify(levels)) return window.dash_clientside.no_update;
            return Object.assign({}, hideout, {levels: levels});
        },
        typeFilter(types, hideout) {
            return Object.assign({}, hideout, {types: types || []});
        },
        applyTheme(dark) {
            document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
            return dark ? "dark" : "light";
        },
        resizeOnTab(tab) {
            // Leaflet measures its container once; a map first shown in a hidden tab needs a nudge.
            setTimeout(() => window.dispatchEvent(new Event("resize")), 50);
            return tab;
        },
        tick(n) {
            // one poll at a time: a slow or failing server is asked again only after it answered
            // (or after POLL_RETRY_MS, in case an answer was lost)
            if (pollSince !== null && Date.now() - pollSince < POLL_RETRY_MS) return window.dash_clientside.no_update;
            pollSince = Date.now();
            return n || 0;
        },
        freshness(n, summary) {
            const triggered = (window.dash_clientside.callback_context.triggered || []).map((t) => t.prop_id);
            if (triggered.some((id) => id.indexOf("feed-summary") === 0) && summary) {
                lastFeedAt = Date.now();
                pollSince = null;
            }
            if (lastFeedAt === null) return ["connecting…", "secondary"];
            if (Date.now() - lastFeedAt > 5000) return ["disconnected", "danger"];
            const last = summary && summary.last_event_ms && summary.last_event_ms.last_v;
            if (!last) return ["live · no vehicle data", "warning"];
            const age = Math.max(0, (summary.now_ms - last) / 1000);
            const colour = age < 5 ? "success" : age < 60 ? "warning" : "danger";
            return ["live · data " + age.toFixed(1) + " s old", colour];
        },
    };

    window.dash_clientside = Object.assign({}, window.dash_clientside, {smartcity: ns});
})();
