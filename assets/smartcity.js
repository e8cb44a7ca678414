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
    const POLL_RETRY_MS = 10000;
    const CONNECT_GRACE_MS = 3000;
    const POLL_MS = {live: 5000, down: 1000};  // while push is live the poll only fills what push lacks
    const LEVEL_ORDER = {severe: 0, heavy: 1, moderate: 2, light: 3, free: 4};
    const STALE_MS = 120000;  // a vehicle not heard of for this long leaves the map
    const SENSOR_STALE_MS = 900000;  // a sensor or station likewise (the speed layer's sensor_s)
    const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
    let lastFeedAt = null;
    let lastSummary = null;
    let dashReady = false;  // set_props works only once Dash has rendered the page
    const early = [];  // push messages that arrived before that
    let pollSince = null;  // when the poll in flight was sent; null when none is
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

    /** Incidents, traffic sensors and weather stations by id, as pushed: the feed stores are
     * rebuilt from these. */
    const pushed = {incidents: {}, traffic: {}, weather: {}};
    const fed = {traffic: null, weather: null};  // what the map last drew of them (a signature)

    /** The tab shown (the address follows it: resizeOnTab). */
    function shownTab() {
        return "tab-" + ((location.hash || "").replace(/^#/, "") || "overview");
    }

    /** Active incidents oldest first, as the poll lists them. */
    function activeIncidents() {
        return Object.values(pushed.incidents).filter((i) => i.status !== "Resolved").sort((a, b) =>
            (a.first_seen || a.ts || 0) - (b.first_seen || b.ts || 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }

    /** Sensors most congested first, as the poll lists them. */
    function trafficRows() {
        const level = (r) => (r.congestion_level in LEVEL_ORDER ? LEVEL_ORDER[r.congestion_level] : 5);
        return Object.values(pushed.traffic).sort((a, b) =>
            level(a) - level(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }

    /** Fill the feed stores from a push message. Every store set runs all the callbacks reading
     * it (tens of ms in Dash's renderer), so a store is set only when something shown needs it:
     * incidents on every change (alerts work on any tab); traffic and weather when their tab is
     * shown or what the map draws of them changed (tooltips read the newest rows without it);
     * the summary while a tab shows it each second (Overview, System, a selection on the Map). */
    function feedStores(msg) {
        const snap = msg.type === "snapshot";
        const tab = shownTab();
        if (snap) {
            pushed.incidents = {};
            pushed.traffic = {};
            pushed.weather = {};
        }
        (msg.incidents || []).forEach((i) => { pushed.incidents[i.id] = i; });
        if (snap || (msg.incidents || []).length) {
            for (const id in pushed.incidents) {
                if (pushed.incidents[id].status === "Resolved") delete pushed.incidents[id];
            }
            setProps("feed-incidents", {data: activeIncidents()});
        }
        [["traffic", "sensors", "tab-traffic", trafficRows],
         ["weather", "stations", "tab-weather", () => Object.values(pushed.weather)]].forEach(([kind, layer, own, rows]) => {
            const changed = msg[kind] || [];
            changed.forEach((r) => { pushed[kind][r.id] = r; latest[layer][r.id] = r; });
            let gone = false;  // a sensor silent for SENSOR_STALE_MS has left the speed layer's index too
            const newest = Math.max(0, ...Object.values(pushed[kind]).map((r) => r.ts || 0));
            for (const id in pushed[kind]) {
                if (newest - (pushed[kind][id].ts || 0) > SENSOR_STALE_MS) { delete pushed[kind][id]; gone = true; }
            }
            if (!snap && !changed.length && !gone) return;
            const all = rows();
            const drawn = JSON.stringify(all.map((r) => DRAWN_BY[layer].map((k) => r[k])));
            if (snap || tab === own || tab === "tab-overview" || drawn !== fed[kind]) {
                fed[kind] = drawn;
                setProps("feed-" + kind, {data: all});
            }
        });
        if (msg.summary) {
            lastSummary = msg.summary;
            lastFeedAt = Date.now();
            if (snap || tab === "tab-overview" || tab === "tab-system" || (tab === "tab-map" && ns.mapSelected)) {
                setProps("feed-summary", {data: msg.summary});
            }
        }
    }

    /** [text, colour] of the connection badge. */
    function freshness(push) {
        const pushed = push === "live";
        const recent = lastFeedAt !== null && Date.now() - lastFeedAt <= 5000;
        if (!pushed && lastFeedAt === null) return ["connecting…", "secondary"];
        if (!pushed && !recent) return ["disconnected", "danger"];
        const mode = pushed ? "live via push" : "polling fallback";
        const summary = lastSummary;
        const last = summary && summary.last_event_ms && summary.last_event_ms.last_v;
        if (!recent || !summary) return [mode, pushed ? "success" : "warning"];
        if (!last) return [mode + " · no vehicle data", "warning"];
        const age = Math.max(0, (summary.now_ms - last) / 1000);
        const colour = age < 5 ? "success" : age < 60 ? "warning" : "danger";
        return [mode + " · data " + age.toFixed(1) + " s old", colour];
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
        onMessage(msg) {
            const now = Date.now();
            ns.live.messages += 1;  // messages applied (the browser benchmark counts updates by it)
            if (msg.type === "snapshot") {
                ns.live.vehicles = {};
                ns.live.attempt = 0;
                ns.setPush("live");
                const features = rowObjects(msg).filter((v) => v.lat !== undefined && v.lon !== undefined)
                    .map((v) => {
                        const f = vehicleFeature(v);
                        ns.live.vehicles[v.id] = {feature: f, seen: now};
                        return f;
                    });
                // one rebuild per connection; every later message moves markers in place
                setProps("feed-vehicles", {data: {type: "FeatureCollection", features: features}});
            } else if (msg.type === "delta") {
                ns.applyVehicles(msg, now);
            } else {
                return;
            }
            feedStores(msg);
        },
        setPush(state) {
            if (ns.live.state === state) return;
            ns.live.state = state;
            setProps("shell-push", {data: state});
            ns.badge();
        },
        /** Dash is up (the page's first clientside callback): take the messages that came before
         * it, then keep the socket open (opened when this file loaded, see the end). */
        connect() {
            dashReady = true;
            if (ns.live.state) setProps("shell-push", {data: ns.live.state});  // a state set before Dash was up
            early.splice(0).forEach((msg) => ns.onMessage(msg));
            if (ns.live.socket === null && ns.live.state !== "down") ns.openSocket();
            return window.dash_clientside.no_update;
        },
        /** Open /ws/realtime (same origin, the session cookie authenticates); reconnects with backoff. */
        openSocket() {
            if (ns.live.socket || typeof WebSocket === "undefined") return;
            // gzip: the server compresses each delta once for every client (a quarter of the bytes)
            const gzip = typeof DecompressionStream !== "undefined";
            const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/realtime"
                + (gzip ? "?encoding=gzip" : "");
            let ws;
            try {
                ws = new WebSocket(url);
            } catch (e) {
                ns.retry();
                return;
            }
            ns.live.socket = ws;
            ws.binaryType = "blob";
            let inOrder = Promise.resolve();  // inflating is asynchronous: apply messages in arrival order
            ws.onmessage = (event) => {
                const text = typeof event.data === "string" ? Promise.resolve(event.data)
                    : new Response(event.data.stream().pipeThrough(new DecompressionStream("gzip"))).text();
                inOrder = inOrder.then(() => text).then((t) => {
                    const msg = JSON.parse(t);
                    if (dashReady) ns.onMessage(msg);
                    else early.push(msg);  // applied in order once Dash is up
                }).catch(() => { /* one bad message: keep the socket */ });
            };
            ws.onclose = () => {
                ns.live.socket = null;
                early.length = 0;
                ns.setPush("down");
                ns.retry();
            };
        },
        retry() {
            const base = BACKOFF_MS[Math.min(ns.live.attempt, BACKOFF_MS.length - 1)];
            ns.live.attempt += 1;
            setTimeout(() => ns.openSocket(), base + Math.random() * base * 0.3);
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
        tabFromHash() {
            const name = (location.hash || "").replace(/^#/, "");
            return TABS.indexOf(name) >= 0 ? "tab-" + name : window.dash_clientside.no_update;
        },
        /** The summary, to refresh a selection's details, while one is selected on the shown map. */
        mapRefresh(summary, selected, active) {
            ns.mapSelected = selected || null;  // push then keeps the summary coming (feedStores)
            return selected && active === "tab-map" ? summary : window.dash_clientside.no_update;
        },
        /** Polling only for what push lacks on the tab shown; none at all on the other tabs. */
        pollPlan(push, tab, polledTabs) {  // polledTabs: app/console/feed.py polled_tabs()
            const live = push === "live";
            // System's counters and rates stay per second; Emergency only needs its ages to move on
            return [live && (polledTabs || []).indexOf(tab) < 0, live && tab !== "tab-system" ? POLL_MS.live : POLL_MS.down];
        },
        /** A poll answered (push feeds lastSummary itself): the next one may go. */
        polled(summary) {
            const triggered = (window.dash_clientside.callback_context.triggered || []).map((t) => t.prop_id);
            if (summary && triggered.indexOf("feed-summary.data") >= 0) {
                lastSummary = summary;
                lastFeedAt = Date.now();
            }
            pollSince = null;
            ns.badge();
            return window.dash_clientside.no_update;
        },
        resizeOnTab(tab) {
            if (tab && tab.indexOf("tab-") === 0 && history.replaceState) {
                history.replaceState(null, "", "#" + tab.slice(4));  // the address names the tab shown
            }
            // Leaflet measures its container once; a map first shown in a hidden tab needs a nudge.
            setTimeout(() => window.dispatchEvent(new Event("resize")), 50);
            return tab;
        },
        tick(n) {
            // while the page's socket is still connecting (it usually brings everything a moment
            // later), polling would build the 5,000-vehicle layer twice: poll only once it failed
            // or after CONNECT_GRACE_MS
            if (ns.live.state === null && performance.now() < CONNECT_GRACE_MS) return window.dash_clientside.no_update;
            // one poll at a time: a slow or failing server is asked again only after it answered
            // (or after POLL_RETRY_MS, in case an answer was lost)
            if (pollSince !== null && Date.now() - pollSince < POLL_RETRY_MS) return window.dash_clientside.no_update;
            pollSince = Date.now();
            return n || 0;
        },
        /** The connection badge, written by this file each second (outside Dash: a store set
         * each second would cost every callback reading it). */
        badge() {
            const el = document.getElementById("shell-badge");
            if (!el) return;
            const [text, colour] = freshness(ns.live.state);
            if (el.textContent !== text) el.textContent = text;
            const cls = "badge me-3 bg-" + colour;
            if (el.className !== cls) el.className = cls;
        },
    };

    // app/console/shown.py: a tab's view store takes new data only while that tab is shown
    const shown = {};
    TABS.forEach((name) => {
        shown["tab-" + name] = (data, active) => (active === "tab-" + name ? data : window.dash_clientside.no_update);
    });
    window.dash_clientside = Object.assign({}, window.dash_clientside, {smartcity: ns, smartcity_shown: shown});
    setInterval(() => ns.badge(), 1000);
    // a link to a tab followed from the page itself (or a hash typed in the address bar) opens it
    window.addEventListener("hashchange", () => {
        const tab = ns.tabFromHash();
        if (typeof tab === "string") setProps("shell-tabs", {active_tab: tab});  // app/console/ids.py SHELL_TABS
    });
    // connect while Dash is still starting (loading Plotly alone keeps the page busy for most of a
    // second): the snapshot is then here when the map is
    ns.openSocket();
})();
