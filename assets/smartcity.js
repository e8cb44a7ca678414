/* Clientside code of the Smart City console: one namespace, window.dash_clientside.smartcity.
 * Every string that came from a device or a user is put into the page as TEXT
 * (textContent), never as HTML — tooltips included. */
(function () {
    "use strict";

    const SEVERITY = {low: "#6c757d", medium: "#0dcaf0", high: "#fd7e14", critical: "#dc3545"};
    const CONGESTION = {free: "#2ca02c", light: "#98df8a", moderate: "#ffbf00", heavy: "#ff7f0e", severe: "#d62728"};
    const TABS = ["overview", "map", "emergency", "traffic", "weather", "history", "system"];  // ids.TAB_* without "tab-"
    const VEHICLE_PANE = "smartcity-vehicles";  // map.py creates these panes
    const INCIDENT_PANE = "smartcity-incidents";  // above the vehicles
    // a vehicle not heard of for the live model's active window leaves the map (the live client
    // prunes it in event time first; this wall-clock check is the map's own backstop)
    const STALE_MS = (() => {
        const el = document.getElementById("smartcity-live-model");
        return el ? JSON.parse(el.textContent).active_ms : Infinity;
    })();
    let dashReady = false;  // set_props works only once Dash has rendered the page
    let reconcileQueued = false;
    let adding = false;  // true while this file adds markers itself: that must not queue a reconcile

    /** A tooltip element made of text lines: safe whatever the strings contain. */
    function textTip(lines) {
        const div = document.createElement("div");
        lines.filter((l) => l !== null && l !== undefined && l !== "").forEach((line, i) => {
            if (i > 0) div.appendChild(document.createElement("br"));
            div.appendChild(document.createTextNode(String(line)));
        });
        return div;
    }

    function vehicleLines(p) {
        return [p.id + " (" + p.type + ")", p.speed + " km/h", p.road, p.status];
    }

    /** One vehicle row of a push message as an object, by the message's column names. */
    function rowObject(fields, row) {
        if (!Array.isArray(row)) return row;
        const v = {};
        for (let i = 0; i < fields.length; i++) if (row[i] !== null) v[fields[i]] = row[i];
        return v;
    }

    /** Vehicle rows of a push message as objects. */
    function rowObjects(msg) {
        const fields = msg.vehicle_fields || [];
        return (msg.vehicles || []).map((row) => rowObject(fields, row));
    }

    /** Where each of the columns applyVehicles reads sits in this message's rows. */
    function columns(msg) {
        const f = msg.vehicle_fields || [];
        return {id: f.indexOf("id"), lat: f.indexOf("lat"), lon: f.indexOf("lon"), speed: f.indexOf("speed"),
                type: f.indexOf("vehicle_type"), status: f.indexOf("status"), road: f.indexOf("road_name")};
    }

    /** A vehicle state as the GeoJSON feature the map layer draws. */
    function vehicleFeature(v) {
        return {
            type: "Feature",
            geometry: {type: "Point", coordinates: [v.lon, v.lat]},
            properties: {
                id: v.id, type: v.vehicle_type || "car", speed: Math.round((Number(v.speed) || 0) * 10) / 10,
                status: v.status || "", road: v.road_name || "",
            },
        };
    }

    // The vehicle layer's colouring, derived once per hideout (app/console/map.py vehicle_hideout),
    // never per move: colour by type or by speed band, and one style object per band.
    let vehicleStyle = {hideout: null, bySpeed: false, bands: [], styles: []};

    function styleFor(hideout) {
        if (hideout && vehicleStyle.hideout === hideout) return vehicleStyle;
        const bands = (hideout && hideout.bands) || [];
        vehicleStyle = {
            hideout: hideout || null, bySpeed: !!hideout && hideout.colourBy === "speed" && bands.length > 0,
            bands: bands, styles: bands.map((b) => ({fillColor: b.colour})),
        };
        return vehicleStyle;
    }

    /** The index of the speed band (slowest first) ``speed`` falls in. */
    function speedBand(speed, bands) {
        for (let i = 0; i < bands.length - 1; i++) {
            if (bands[i].below !== null && bands[i].below !== undefined && speed < bands[i].below) return i;
        }
        return bands.length - 1;
    }

    /** A moved vehicle coloured by speed changes colour only when it changes band: the style
     * objects are the shared ones, so 5,000 moves a second allocate nothing here. */
    function restyle(marker, speed) {
        const st = vehicleStyle;
        if (!st.bySpeed) return;
        const band = speedBand(speed, st.bands);
        if (band === marker._smartcityBand) return;
        marker._smartcityBand = band;
        marker.setStyle(st.styles[band]);
    }

    function setProps(id, props) {
        const dc = window.dash_clientside;
        if (dashReady && dc && dc.set_props) dc.set_props(id, props);
    }

    // the newest row per id of each point layer: tooltips read these, so new numbers need no redraw
    const latest = {incidents: {}, sensors: {}, stations: {}};
    const drawn = {incidents: null, sensors: null, stations: null};  // what each layer was drawn from
    const DRAWN_BY = {  // the fields a point's drawing depends on
        incidents: ["id", "lat", "lon", "severity"],
        sensors: ["id", "lat", "lon", "congestion_level"],
        stations: ["id", "lat", "lon"],
    };

    function circle(latlng, colour, radius, kind, id, lines) {
        const marker = L.circleMarker(latlng, {
            radius: radius, color: "#222", weight: 1, fillColor: colour, fillOpacity: 0.9,
            pane: kind === "incidents" ? INCIDENT_PANE : "overlayPane",
        });
        marker.bindTooltip(() => textTip(lines(latest[kind][id] || {id: id})));
        return marker;
    }

    /** Rows as GeoJSON points, or no_update when nothing the layer draws has changed. */
    function points(kind, rows) {
        const located = (rows || []).filter((r) => r.lat !== undefined && r.lon !== undefined);
        latest[kind] = {};
        located.forEach((r) => { latest[kind][r.id] = r; });
        const signature = JSON.stringify(located.map((r) => DRAWN_BY[kind].map((k) => r[k])));
        if (signature === drawn[kind]) return window.dash_clientside.no_update;
        drawn[kind] = signature;
        return {type: "FeatureCollection", features: located.map((r) => ({
            type: "Feature", geometry: {type: "Point", coordinates: [r.lon, r.lat]}, properties: r,
        }))};
    }

    const ns = {
        // The live vehicle markers by id; the push client moves these in place.
        markers: {},
        // The incident markers by id, as last drawn.
        incidentMarkers: {},
        // Push state: the vehicles the socket told us about (id -> {feature, seen}), the socket.
        live: {vehicles: {}, state: null, socket: null, attempt: 0, layer: null, messages: 0},

        // --- dash-leaflet GeoJSON functions (feature, latlng, context) ---------------------
        vehiclePoint(feature, latlng, context) {
            const known = ns.live.state === "live" && ns.live.vehicles[feature.properties.id];
            if (known) {  // the layer is rebuilt from older data (a filter change): use the pushed state
                feature.properties = known.feature.properties;
                const c = known.feature.geometry.coordinates;
                latlng = L.latLng(c[1], c[0]);
            }
            const p = feature.properties;
            const hideout = context && context.hideout;
            const colours = (hideout && hideout.colours) || {};
            const st = styleFor(hideout);
            const band = speedBand(Number(p.speed) || 0, st.bands);
            // filled, not stroked: stroking 5,000 circles each second cost the page's main thread
            // more than filling them (bare canvas, headless Chromium: 59 ms filled and stroked,
            // 20-33 ms filled only)
            const marker = L.circleMarker(latlng, {
                radius: 5, stroke: false, fillOpacity: 0.9,
                fillColor: st.bySpeed ? st.bands[band].colour : colours[p.type] || "#777",
                pane: VEHICLE_PANE,  // a canvas of their own: moving them never redraws the roads
            });
            marker._smartcityBand = band;
            // read when shown, so moving a marker never builds tooltip DOM
            marker.bindTooltip((layer) => textTip(vehicleLines((layer.feature || feature).properties)));
            ns.markers[p.id] = marker;
            ns.queueReconcile();
            return marker;
        },
        vehicleFilter(feature, context) {
            ns.queueReconcile();
            const types = context && context.hideout && context.hideout.types;
            return !types || types.indexOf(feature.properties.type) >= 0;
        },
        incidentPoint(feature, latlng) {
            const p = feature.properties;
            const marker = circle(latlng, SEVERITY[p.severity] || "#dc3545", 9, "incidents", p.id, (q) => [
                (q.incident_type || "incident") + " · " + (q.severity || "?"), q.description, q.status,
            ]);
            marker.setStyle({weight: 2, color: "#000"});
            ns.incidentMarkers[p.id] = marker;  // the drawn incidents by id (the newest drawing wins)
            return marker;
        },
        sensorPoint(feature, latlng) {
            const p = feature.properties;
            return circle(latlng, CONGESTION[p.congestion_level] || "#999", 5, "sensors", p.id, (q) => [
                "sensor " + (q.camera_id || q.id), q.road_name, (q.congestion_level || "?") + " · " + q.speed + " km/h",
            ]);
        },
        stationPoint(feature, latlng) {
            const p = feature.properties;
            const m = L.circleMarker(latlng, {radius: 7, color: "#0d6efd", weight: 2, fillColor: "#fff", fillOpacity: 1});
            m.bindTooltip(() => {
                const q = latest.stations[p.id] || p;
                return textTip(["weather " + q.id, q.weather_condition, q.temperature + " °C", "AQI " + q.airQualityIndex]);
            });
            return m;
        },
        roadStyle(feature, context) {
            const levels = (context && context.hideout && context.hideout.levels) || {};
            const key = feature.id !== undefined ? feature.id : (feature.properties || {}).id;
            const level = levels[key];
            return level ? {color: CONGESTION[level], weight: 5, opacity: 0.9}
                         : {color: "#7a8599", weight: 3, opacity: 0.7};
        },

        // --- live updates over /ws/realtime ---------------------------------------------------
        /** The dash-leaflet GeoJSON layer holding the vehicle markers (null until one was drawn). */
        vehicleLayer() {
            const cached = ns.live.layer;
            if (cached && cached._map) return cached;
            for (const id in ns.markers) {
                const parents = ns.markers[id]._eventParents;
                for (const key in parents || {}) {
                    if (parents[key] instanceof L.GeoJSON) return (ns.live.layer = parents[key]);
                }
            }
            return cached;
        },
        queueReconcile() {
            if (adding || reconcileQueued || ns.live.state !== "live") return;
            reconcileQueued = true;
            setTimeout(() => { reconcileQueued = false; ns.reconcile(); }, 0);
        },
        /** After a layer rebuild: add pushed vehicles the rebuild missed, drop ones push forgot. */
        reconcile() {
            const layer = ns.vehicleLayer();
            if (!layer || ns.live.state !== "live") return;
            adding = true;
            for (const id in ns.markers) {
                if (!ns.live.vehicles[id]) { layer.removeLayer(ns.markers[id]); delete ns.markers[id]; }
            }
            for (const id in ns.live.vehicles) {
                const m = ns.markers[id];
                if (!m || !layer.hasLayer(m)) layer.addData(ns.live.vehicles[id].feature);
            }
            adding = false;
        },
        /** Apply a delta's vehicle rows in place: move known markers, add new ones, drop stale ones. */
        applyVehicles(msg, now) {
            const live = ns.live.vehicles;
            const layer = ns.vehicleLayer();
            const fields = msg.vehicle_fields || [];
            const c = columns(msg);
            let missing = false;
            adding = true;
            (msg.vehicles || []).forEach((row) => {
                const lat = row[c.lat], lon = row[c.lon];
                if (lat === null || lat === undefined || lon === null || lon === undefined) return;
                const id = row[c.id];
                const old = live[id];
                const marker = ns.markers[id];
                const sameType = old && old.feature.properties.type === (row[c.type] || "car");
                if (sameType && marker && layer && marker.feature === old.feature && layer.hasLayer(marker)) {
                    // the common case, 5,000 times a second: update the drawn state in place, no new objects
                    const f = old.feature;
                    f.geometry.coordinates[0] = lon;
                    f.geometry.coordinates[1] = lat;
                    f.properties.speed = Math.round((Number(row[c.speed]) || 0) * 10) / 10;
                    f.properties.status = row[c.status] || "";
                    if (row[c.road]) f.properties.road = row[c.road];
                    old.seen = now;
                    // setLatLng would make a LatLng and fire "move" for each: only an open tooltip listens
                    const ll = marker._latlng;
                    ll.lat = lat;
                    ll.lng = lon;
                    marker.redraw();
                    if (marker._tooltip && marker.isTooltipOpen()) marker.fire("move", {latlng: ll});
                    restyle(marker, f.properties.speed);
                    return;
                }
                const v = rowObject(fields, row);
                const feature = vehicleFeature(v);
                if (old && !v.road_name) feature.properties.road = old.feature.properties.road;
                live[v.id] = {feature: feature, seen: now};
                if (marker && layer && layer.hasLayer(marker)) {
                    marker.setLatLng([v.lat, v.lon]);
                    if (marker.feature && marker.feature.properties.type !== feature.properties.type) {
                        layer.removeLayer(marker);  // its colour and the type filter may differ: redraw it
                        delete ns.markers[v.id];
                        layer.addData(feature);
                    } else if (marker.feature) {
                        marker.feature = feature;  // later moves update it in place (above)
                        restyle(marker, feature.properties.speed);
                    }
                } else if (layer) {
                    layer.addData(feature);  // the layer's filter and pointToLayer see the current hideout
                } else {
                    missing = true;
                }
            });
            for (const id in live) {
                if (now - live[id].seen > STALE_MS) {
                    delete live[id];
                    const marker = ns.markers[id];
                    if (marker && layer) layer.removeLayer(marker);
                    delete ns.markers[id];
                }
            }
            adding = false;
            if (missing) {  // no layer drawn yet (an empty city until now): draw it once from the state
                const features = Object.values(live).map((e) => e.feature);
                setProps("feed-vehicles", {data: {type: "FeatureCollection", features: features}});
            }
        },
        // --- clientside callbacks ------------------------------------------------------------
        passThrough(data) {
            ns.markers = {};  // the layer is rebuilt from this data
            return data || {type: "FeatureCollection", features: []};
        },
        incidentPoints(rows) { return points("incidents", rows); },
        sensorPoints(rows) { return points("sensors", rows); },
        stationPoints(rows) { return points("stations", rows); },
        roadLevels(rows, hideout) {
            const levels = {};
            (rows || []).forEach((r) => {
                if (r.segment_id && r.congestion_level) levels[r.segment_id] = r.congestion_level;
            });
            const old = (hideout && hideout.levels) || {};
            if (JSON.stringify(old) === JSON.stringify(levels)) return window.dash_clientside.no_update;
            return Object.assign({}, hideout, {levels: levels});
        },
        /** The vehicle types shown and the colouring (the layer redraws once from it), and
         * whether the speed legend is hidden. */
        vehicleView(types, colourBy, hideout) {
            const by = colourBy === "speed" ? "speed" : "type";
            return [Object.assign({}, hideout, {types: types || [], colourBy: by}), by !== "speed"];
        },
        /** A chart of the lake's last hours reads it again (its store changes) only while its tab
         * is shown: when the tab is opened, and then each clock tick, at most every ~every_ms
         * (tab switches in between read nothing). The store: {tab, every_ms, at}. */
        recentTick(n, active, stamp) {
            const s = stamp || {};
            const now = Date.now();
            if (active !== s.tab || (s.at && now - s.at < 0.8 * s.every_ms)) return window.dash_clientside.no_update;
            return Object.assign({}, s, {at: now});
        },
        /** Switching the sound on is a user gesture: the browser lets the audio context start then. */
        soundSwitch(enabled) {
            if (enabled) ns.audio();
            return window.dash_clientside.no_update;
        },
        /** A new alert was raised: a two-tone chime when the operator switched sound on. */
        alertSound(alerts, enabled) {
            if (enabled && alerts && (!Array.isArray(alerts) || alerts.length)) ns.chime();
            return window.dash_clientside.no_update;
        },
        audio() {
            const Ctx = window.AudioContext || window.webkitAudioContext;
            if (!Ctx) return null;
            ns.audioContext = ns.audioContext || new Ctx();
            if (ns.audioContext.state === "suspended") ns.audioContext.resume();
            return ns.audioContext;
        },
        chimes: 0,  // how many chimes played (the browser tests read it)
        chime() {
            const ctx = ns.audio();
            if (!ctx) return;
            [880, 660].forEach((freq, i) => {  // generated: no sound file to download
                const osc = ctx.createOscillator();
                const gain = ctx.createGain();
                const at = ctx.currentTime + i * 0.25;
                osc.frequency.value = freq;
                gain.gain.setValueAtTime(0.2, at);
                gain.gain.exponentialRampToValueAtTime(0.001, at + 0.22);
                osc.connect(gain).connect(ctx.destination);
                osc.start(at);
                osc.stop(at + 0.23);
            });
            ns.chimes += 1;
        },
        applyTheme(dark) {
            document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
            return dark ? "dark" : "light";
        },
        /** A link to a tab: /#map opens the Map tab (read once, when the page loads). */
        /** The page's first clientside callback (Dash is up, set_props works): the tab linked to. */
        tabOnLoad() {
            dashReady = true;
            const live = window.smartcityLive;  // a city that arrived before Dash was up: draw it now
            if (live && live.messages) setTimeout(() => mapBridge(mapSnapshot(live.city)), 0);
            return ns.tabFromHash();
        },
        tabFromHash() {
            const name = (location.hash || "").replace(/^#/, "");
            return TABS.indexOf(name) >= 0 ? "tab-" + name : window.dash_clientside.no_update;
        },
        /** The summary, to refresh a selection's details, while one is selected on the shown map. */
        mapRefresh(summary, selected, active) {
            ns.mapSelected = selected || null;  // push then keeps the summary coming (feedStores)
            return selected && active === "tab-map" ? summary : window.dash_clientside.no_update;
        },
        resizeOnTab(tab) {
            if (tab && tab.indexOf("tab-") === 0 && history.replaceState) {
                history.replaceState(null, "", "#" + tab.slice(4));  // the address names the tab shown
            }
            // Leaflet measures its container once; a map first shown in a hidden tab needs a nudge.
            setTimeout(() => window.dispatchEvent(new Event("resize")), 50);
            return tab;
        },
    };

    // --- map bridge: the map's GeoJSON layers (app/console/map.py) still read the stores named
    // below; this feeds them from the live client until the map layers read it themselves
    // (assets/smartcity_map.js). Inert once those functions or stores are gone: delete it then.
    function mapBridge(detail) {
        if (!dashReady || typeof ns.applyVehicles !== "function") return;
        ns.live.messages += 1;  // messages drawn (the browser benchmark counts updates by it)
        const city = detail.city;
        const fields = window.smartcityLive.model.vehicle_fields;
        const msg = detail.message;
        const now = Date.now();
        if (detail.snapshot) {
            ns.live.vehicles = {};
            ns.live.state = "live";
            const features = [];
            for (const row of city.vehicles.values()) {
                const v = rowObject(fields, row);
                if (v.lat === undefined || v.lon === undefined) continue;
                const f = vehicleFeature(v);
                ns.live.vehicles[v.id] = {feature: f, seen: now};
                features.push(f);
            }
            setProps("feed-vehicles", {data: {type: "FeatureCollection", features: features}});
        } else if (msg.vehicles && msg.vehicles.length) {
            ns.applyVehicles({vehicle_fields: fields, vehicles: detail.changed.vehicles.map((id) => city.vehicles.get(id))}, now);
        }
        const layer = ns.vehicleLayer();
        detail.removed.vehicles.forEach((id) => {  // silent for the active window, in event time
            delete ns.live.vehicles[id];
            if (ns.markers[id] && layer) layer.removeLayer(ns.markers[id]);
            delete ns.markers[id];
        });
        const ch = detail.changed, rm = detail.removed, all = detail.snapshot;
        if (all || ch.incidents.length || rm.incidents.length) {
            setProps("feed-incidents", {data: Array.from(city.incidents.values())});
        }
        if (all || ch.traffic.length || rm.traffic.length) setProps("feed-traffic", {data: Array.from(city.traffic.values())});
        if (all || ch.weather.length || rm.weather.length) setProps("feed-weather", {data: Array.from(city.weather.values())});
        if (msg.summary && ns.mapSelected) setProps("feed-summary", {data: msg.summary});
    }
    function mapSnapshot(city) {
        const none = {vehicles: [], incidents: [], traffic: [], weather: []};
        return {message: {type: "snapshot", summary: city.summary}, city: city, changed: none, removed: none, snapshot: true};
    }
    window.addEventListener("smartcity:live", (e) => mapBridge(e.detail));

    window.dash_clientside = Object.assign({}, window.dash_clientside, {smartcity: ns});
    // a link to a tab followed from the page itself (or a hash typed in the address bar) opens it
    window.addEventListener("hashchange", () => {
        const tab = ns.tabFromHash();
        if (typeof tab === "string") setProps("shell-tabs", {active_tab: tab});  // app/console/ids.py SHELL_TABS
    });
})();

/* The console's live figures, drawn in the browser from the live client's city
 * (assets/smartcity_live.js): the navbar badge, the Overview cards, System's live counters, the
 * Emergency, Traffic and Weather grids (AG Grid, filled through its API) and their charts, and
 * alerts for new severe incidents. A stale figure is marked (class "stale", "(stale)"). */
(function () {
    "use strict";

    let seen = null;  // incident ids known (null until the first message: those raise no alert)
    let stale = false;
    const dirty = new Set();  // figures whose data changed since they were drawn
    const filled = new WeakSet();  // grid elements given their rows (a remounted grid is a new element)

    const live = () => window.smartcityLive;
    const shown = (el) => !!el && el.offsetParent !== null;
    const fmt = (v, suffix) => (v === null || v === undefined ? "–" : v + (suffix || ""));
    const round = (v, digits) => (typeof v === "number" ? Math.round(v * 10 ** digits) / 10 ** digits : v);
    const plotlyText = (v) => String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

    function setText(id, text) {
        const el = document.getElementById(id);
        if (el && el.textContent !== text) el.textContent = text;
    }

    function setPropsSafe(id, props) {
        const dc = window.dash_clientside;
        if (dc && dc.set_props && document.getElementById(id)) dc.set_props(id, props);
    }

    // --- badge and stale marks ---------------------------------------------------------------
    function onStatus(st) {
        const el = document.getElementById("shell-badge");
        if (el) {
            if (el.textContent !== st.text) el.textContent = st.text;
            const cls = "badge me-3 bg-" + st.colour;
            if (el.className !== cls) el.className = cls;
            el.title = st.reason || "";
        }
        const nowStale = st.state !== "live";
        document.querySelectorAll(".live-figure").forEach((fig) => fig.classList.toggle("stale", nowStale));
        const note = nowStale ? " (stale)" : "";  // in each live figure's heading
        document.querySelectorAll(".stale-note").forEach((n) => { if (n.textContent !== note) n.textContent = note; });
        stale = nowStale;
        draw(true);
    }

    // --- overview cards and system counters ----------------------------------------------------
    function cards(city, model) {
        const speedAt = model.vehicle_fields.indexOf("speed");
        const typeAt = model.vehicle_fields.indexOf("vehicle_type");
        const byType = {};
        let speeds = 0, n = 0;
        for (const row of city.vehicles.values()) {
            byType[row[typeAt]] = (byType[row[typeAt]] || 0) + 1;
            if (typeof row[speedAt] === "number") { speeds += row[speedAt]; n += 1; }
        }
        const congestedFrom = model.levels.indexOf(model.congested_from);
        let congested = 0;
        for (const t of city.traffic.values()) if (model.levels.indexOf(t.congestion_level) >= congestedFrom) congested += 1;
        const bySeverity = {};
        for (const i of city.incidents.values()) bySeverity[i.severity] = (bySeverity[i.severity] || 0) + 1;
        const temps = [], aqi = [];
        for (const w of city.weather.values()) {
            if (typeof w.temperature === "number") temps.push(w.temperature);
            if (typeof w.airQualityIndex === "number") aqi.push(w.airQualityIndex);
        }
        const rates = (city.summary && city.summary.events_per_s) || null;
        const total = rates ? round(Object.values(rates).reduce((a, b) => a + b, 0), 1) : null;
        const maxAqi = aqi.length ? Math.max(...aqi) : null;
        return {
            vehicles: [String(city.vehicles.size), Object.entries(byType).sort((a, b) => b[1] - a[1]).slice(0, 3)
                .map(([t, c]) => c + " " + t).join(", ")],
            speed: [fmt(n ? round(speeds / n, 1) : null, " km/h"), ""],
            congestion: [String(congested), "of " + city.traffic.size + " sensors"],
            incidents: [String(city.incidents.size), model.severities.slice().reverse()  // most severe first
                .filter((k) => bySeverity[k]).map((k) => bySeverity[k] + " " + k).join(", ")],
            weather: [fmt(temps.length ? round(temps.reduce((a, b) => a + b, 0) / temps.length, 1) : null, " °C"),
                      "max AQI " + fmt(maxAqi) + (maxAqi !== null && maxAqi > 150 ? " — unhealthy" : "")],
            events: [fmt(total), rates ? Object.entries(rates).sort((a, b) => b[1] - a[1])
                .map(([s, r]) => s.replace(/_data$/, "") + " " + r).join(", ") : "no processor publishing"],
        };
    }

    function drawCards(city, model) {
        const values = cards(city, model);
        for (const key in values) {
            setText("overview-card-" + key, values[key][0]);
            setText("overview-card-" + key + "-detail", values[key][1]);
        }
    }

    function drawSystem(city) {
        const s = city.summary || {};
        const rates = s.events_per_s || null;
        const total = rates ? round(Object.values(rates).reduce((a, b) => a + b, 0), 1) : null;
        setText("system-live-rate", fmt(total));
        setText("system-live-received", fmt(s.events_received));
        const now = Date.now() + city.serverOffsetMs;
        const kinds = live().model.kinds;  // wire name -> the speed layer's kind letter
        const names = Object.fromEntries(Object.entries(kinds).map(([name, k]) => ["last_" + k, name]));
        const ages = Object.entries(s.last_event_ms || {}).sort().map(([k, ms]) =>
            (names[k] || k) + " " + live().ageText(now - ms) + " ago");
        setText("system-live-newest", ages.length ? ages.join(" · ") : "–");
        setText("system-live-state", (live().status && live().status.text) || "–");
    }

    // --- grids ---------------------------------------------------------------------------------
    function ageOf(ms, now) {
        if (typeof ms !== "number") return "";
        const s = Math.max(0, Math.floor((now - ms) / 1000));
        return s < 120 ? s + " s" : s < 7200 ? Math.floor(s / 60) + " min" : Math.floor(s / 3600) + " h";
    }

    const GRIDS = {
        "emergency-table": (city) => {
            const now = Date.now() + city.serverOffsetMs;
            return Array.from(city.incidents.values())
                .sort((a, b) => (a.first_seen || a.ts || 0) - (b.first_seen || b.ts || 0) || (a.id < b.id ? -1 : 1))
                .map((i) => Object.assign({}, i, {
                    status: i.acknowledged_by ? "acknowledged" : i.status,
                    age: ageOf(i.first_seen !== undefined ? i.first_seen : i.ts, now),
                }));
        },
        "traffic-table": (city, model) => Array.from(city.traffic.values())
            .sort((a, b) => model.levels.indexOf(b.congestion_level) - model.levels.indexOf(a.congestion_level)
                || (a.id < b.id ? -1 : 1))
            .map((t) => Object.assign({}, t, {speed: round(t.speed, 1), speed_limit: round(t.speed_limit, 1),
                                              occupancy: round(t.occupancy, 2)})),
        "weather-table": (city) => Array.from(city.weather.values()).sort((a, b) => (a.id < b.id ? -1 : 1)),
    };

    function fillGrid(id, rows) {
        const el = document.getElementById(id);
        const grids = window.dash_ag_grid;
        if (!el || !grids || !grids.getApiAsync) return;
        grids.getApiAsync(id).then((api) => {
            api.setGridOption("rowData", rows);  // by id (getRowId): selection and scroll stay
            filled.add(el);
        }).catch(() => { /* the grid is not mounted (yet) */ });
    }

    // --- charts of the city now (Plotly is on the page once these tabs are) ---------------------
    function react(id, data) {
        const gd = document.querySelector("#" + id + " .js-plotly-plot");
        if (!gd || !window.Plotly) return false;
        window.Plotly.react(gd, data, gd.layout);
        return true;
    }

    function drawTrafficChart(city) {
        const worst = Array.from(city.traffic.values()).filter((s) => typeof s.speed === "number")
            .sort((a, b) => a.speed / (a.speed_limit || 50) - b.speed / (b.speed_limit || 50)).slice(0, 10);
        return react("traffic-worst", [{type: "bar", orientation: "h", x: worst.map((s) => s.speed),
            y: worst.map((s) => plotlyText((s.road_name || s.segment_id || s.id) + " (" + s.id + ")"))}]);
    }

    function drawWeather(city) {
        const stations = GRIDS["weather-table"](city);
        const drawn = react("weather-chart", [["temperature", "°C"], ["precipitation", "mm/h"], ["wind_speed", "wind km/h"],
            ["airQualityIndex", "AQI"]].map(([key, label]) => ({type: "bar", name: label,
            x: stations.map((s) => plotlyText(s.id)), y: stations.map((s) => s[key])})));
        const box = document.getElementById("weather-advisories");
        if (!box) return drawn;
        const t = JSON.parse(box.dataset.thresholds || "{}");  // app/console/weather.py THRESHOLDS
        const items = [];
        stations.forEach((s) => {
            if ((s.precipitation || 0) >= t.heavy_rain_mm_h) items.push(s.id + ": Heavy rain: " + s.precipitation + " mm/h");
            const fog = (s.visibility !== undefined && s.visibility < t.fog_visibility_m)
                || String(s.weather_condition || "").toLowerCase().indexOf("fog") >= 0;
            if (fog) items.push(s.id + ": Fog: visibility " + (s.visibility !== undefined ? s.visibility : "?") + " m");
            if ((s.airQualityIndex || 0) > t.aqi_unhealthy) items.push(s.id + ": Unhealthy air: AQI " + s.airQualityIndex);
            if ((s.wind_speed || 0) >= t.strong_wind_kmh) items.push(s.id + ": Gale: wind " + s.wind_speed + " km/h");
        });
        const lines = items.length ? items : ["No weather advisories."];
        const key = JSON.stringify(lines);
        if (box.dataset.drawn !== key) {
            box.dataset.drawn = key;
        box.replaceChildren(...lines.map((text) => {
            const div = document.createElement("div");
            div.className = "alert py-2 mb-1 " + (items.length ? "alert-warning" : "alert-success");
            div.textContent = text;  // device strings as text
            return div;
        }));
        }
        return drawn;
    }

    // --- alerts for new severe incidents -------------------------------------------------------
    function alerts(detail) {
        const area = document.getElementById("emergency-alert");
        // which severities alert, and their colours: app/console/emergency.py, on the alert area
        const policy = area ? JSON.parse(area.dataset.alerts || "{}") : {};
        const alerting = policy.severities || [];
        const fresh = [];
        detail.changed.incidents.forEach((id) => {
            const inc = detail.city.incidents.get(id);
            if (seen !== null && !seen.has(id) && inc && alerting.indexOf(inc.severity) >= 0) fresh.push(inc);
        });
        if (seen === null) seen = new Set();
        detail.changed.incidents.forEach((id) => seen.add(id));
        if (!fresh.length) return;
        const rank = live().model.severities;
        fresh.sort((a, b) => rank.indexOf(b.severity) - rank.indexOf(a.severity));  // most severe first
        setPropsSafe("emergency-alert", {children: fresh.map((i) => ({
            type: "Alert", namespace: "dash_bootstrap_components",
            props: {children: "New " + i.severity + " incident: " + (i.incident_type || "") + " — " + (i.description || ""),
                    color: (policy.colours || {})[i.severity] || "warning", dismissable: true, duration: 15000},
        }))});
    }

    // --- drawing, at most once a second per figure ------------------------------------------------
    function draw(everything) {
        const lc = live();
        if (!lc || !lc.model) return;
        const city = lc.city, model = lc.model;
        if (shown(document.getElementById("overview-cards"))) drawCards(city, model);
        if (shown(document.getElementById("system-live"))) drawSystem(city);
        for (const id in GRIDS) {
            const el = document.getElementById(id);
            if (!el) continue;
            // an unfilled grid (just mounted) at once; Emergency each second while shown (ages move on)
            const due = !filled.has(el) || (shown(el) && (dirty.has(id) || (everything && id === "emergency-table")));
            if (due) { fillGrid(id, GRIDS[id](city, model)); dirty.delete(id); }
        }
        if (dirty.has("traffic-worst") && shown(document.getElementById("traffic-worst"))) {
            if (drawTrafficChart(city)) dirty.delete("traffic-worst");
        }
        if (dirty.has("weather") && shown(document.getElementById("weather-advisories"))) {
            if (drawWeather(city)) dirty.delete("weather");
        }
    }

    function onLive(detail) {
        const ch = detail.changed, rm = detail.removed, all = detail.snapshot;
        if (all || ch.incidents.length || rm.incidents.length) dirty.add("emergency-table");
        if (all || ch.traffic.length || rm.traffic.length) { dirty.add("traffic-table"); dirty.add("traffic-worst"); }
        if (all || ch.weather.length || rm.weather.length) { dirty.add("weather-table"); dirty.add("weather"); }
        alerts(detail);
        draw(false);
    }

    window.addEventListener("smartcity:live", (e) => onLive(e.detail));
    window.addEventListener("smartcity:status", (e) => onStatus(e.detail));
    window.smartcityFigures = {draw: draw, stale: () => stale};
})();
