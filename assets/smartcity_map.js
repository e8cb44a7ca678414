/* The map's point layers: vehicles, incidents, traffic sensors, weather stations and the selected
 * vehicle's track; and the zones (admins' polygons) with the one being drawn. This file is their one owner: it creates them, updates them by id from the live
 * client's `smartcity:live` events (window.smartcityLive), and picks points under the mouse.
 *
 * Points are drawn by assets/smartcity_gl.js on one canvas in one Leaflet pane: with WebGL (one
 * draw call per layer) on a GPU, with Canvas 2D where WebGL is software (see renderer()). Picking never asks a canvas: one mouse handler on the map looks up
 * the nearest point in the layers' grids, incidents first.
 * Zoomed out (below map_style's clusters.below_zoom), vehicles are drawn as bubbles instead, one
 * per square of the screen (clusters.cell px), with their count and a ring split by status
 * (assets/smartcity_status.js), on a 2D canvas under the points: incidents, sensors and stations
 * stay points on top. One pass over the vehicles' typed arrays per frame, no library: a few
 * hundred bubbles at most, where supercluster would rebuild its index on every second's moves.
 * Every text shown comes from devices or users: tooltips are built with textContent only. */
(function () {
    "use strict";

    const {TILE, PointSet, pointRenderer, webglInfo, mercX, mercY, rgba, sizeOf} = window.smartcityGL;  // assets/smartcity_gl.js (loads first)
    const PICK_PX = 4;  // the mouse may miss a point's edge by this much
    const TRACK_POINTS = 60;
    const COUNT = new Intl.NumberFormat("en");  // 20,000 vehicles
    const ARROW_ZOOM = 16;  // from this zoom in, vehicles are drawn larger with an arrow of their heading
    // "?renderer=webgl", "=canvas" or "=canvas-page" (Canvas 2D on the page's thread, not in a worker)
    // fixes the renderer (benchmarks, tests, and a browser that draws badly)
    const FORCED = ((asked) => (["webgl", "canvas", "canvas-page"].indexOf(asked) >= 0 ? asked : null))(
        new URLSearchParams(window.location ? window.location.search : "").get("renderer"));
    // what each layer looks like: size, stroke and fills come from the console (map.py LOOKS, in
    // map_style), which also draws the legend from them; filled in by api.view
    const LOOK = {};
    const DRAW_ORDER = ["sensors", "stations", "vehicles", "incidents", "selected"];
    DRAW_ORDER.forEach((name) => { LOOK[name] = {size: 0, stroke: 0, strokeColour: "#000000"}; });
    const PICK_ORDER = ["vehicles", "sensors", "stations"];  // after incidents, nearest wins
    const RETAG_MS = 5000;  // zoomed out, the vehicles' states are re-read at most this often
    const FEED = {vehicles: "vehicles", incidents: "incidents", sensors: "traffic", stations: "weather"};

    // ---- the live city on the map -------------------------------------------------------------
    const sets = {};
    DRAW_ORDER.forEach((name) => { sets[name] = new PointSet(LOOK[name]); });
    const origin = [0, 0];  // zoom-0 px subtracted before float32: keeps positions exact when zoomed in
    let originSet = false;
    const state = {
        map: null, gl: null, drawnWith: null, canvas: null, tip: null, track: null, frame: 0, resize: null,
        style: {vehicle_colours: {}, bands: [], level_colours: {}, severity_colours: {}},
        colourBy: "type", types: null,  // null: every type shown
        shown: null, selected: null, following: false, trackPoints: [], grey: false, hovered: null,
        zones: [], zoneLayer: null, drawing: false, draft: [], draftLayer: null,  // see "zones" below
        clusterCanvas: null, clusters: [], taggedAt: -Infinity, now: null,
        stats: {updates: 0, frames: 0, drawnVehicles: 0, clusters: 0, mapAt: null, firstLiveAt: null, applyMs: 0, drawMs: 0},
    };
    const stillSince = new Map();  // vehicle id -> event time (ms) since which it has stood still

    function live() { return window.smartcityLive || null; }

    /** The live city's row of a vehicle (null when unknown or before the first message). */
    function vehicleRow(id) {
        const lv = live();
        return (lv && lv.city && F && lv.city.vehicles.get(id)) || null;
    }

    function fieldIndex() {
        const model = live() && live().model;
        const f = (model && model.vehicle_fields) || [];
        return {id: f.indexOf("id"), ts: f.indexOf("ts"), lat: f.indexOf("lat"), lon: f.indexOf("lon"),
            speed: f.indexOf("speed"), type: f.indexOf("vehicle_type"), status: f.indexOf("status"),
            road: f.indexOf("road_name"), heading: f.indexOf("heading")};
    }
    let F = null;

    function place(x, y) {
        if (!originSet) { origin[0] = x; origin[1] = y; originSet = true; }
    }

    function speedBand(speed) {
        const bands = state.style.bands || [];
        for (let i = 0; i < bands.length - 1; i++) {
            if (bands[i].below !== null && bands[i].below !== undefined && speed < bands[i].below) return i;
        }
        return bands.length - 1;
    }

    // ---- a vehicle's status (assets/smartcity_status.js decides; kept per point as its tag) -------
    function statusRules() {
        const model = live() && live().model;
        return window.smartcityStatus && model && model.vehicle_states ? model : null;
    }

    function cityNow() { const lv = live(); return lv && lv.eventNow ? lv.eventNow() : null; }

    /** Remember since when a vehicle has stood still (its status turns parked after a while);
     * ``speed`` and ``ts`` as the live table holds them (NaN: none). */
    function noteStill(id, speed, ts, model) {
        if (!window.smartcityStatus.isStill(speed, model)) stillSince.delete(id);
        else if (!stillSince.has(id) && ts === ts) stillSince.set(id, ts);
    }

    /** The vehicle's status, {state, text}, from its live row (null before the model is there). */
    function statusOf(id, row, now) {
        const model = statusRules();
        if (!model) return null;
        const since = stillSince.has(id) ? stillSince.get(id) : null;
        return window.smartcityStatus.vehicleStatus(row[F.status], row[F.speed], row[F.ts], since, now, model);
    }

    /** The state of the vehicle in slot ``s`` of the live table as a point's tag: the index in
     * smartcityStatus.STATES (what a cluster counts). */
    function stateTag(table, s, model) {
        const st = window.smartcityStatus, id = table.ids[s], since = stillSince.has(id) ? stillSince.get(id) : null;
        const status = table.str(s, F.status), ts = table.raw(s, F.ts);
        return st.STATES.indexOf(st.vehicleState(status, table.raw(s, F.speed), ts === ts ? ts : null, since, state.now, model));
    }

    /** Re-tag every vehicle on the map: states change with time alone (a silent vehicle goes
     * offline, a still one becomes parked); done for the clusters, at most every few seconds. */
    function retag() {
        const model = statusRules(), lv = live();
        state.taggedAt = performance.now();
        if (!model || !lv || !lv.city || !F) return;
        state.now = cityNow();
        const set = sets.vehicles, table = lv.city.vehicles;
        for (let s = 0; s < set.size; s++) {
            const t = table.slotOf.get(set.ids[s]);
            if (t !== undefined) set.tag[s] = stateTag(table, t, model);
        }
    }

    const at = new Float64Array(3);  // a point's [x, y, heading], handed to PointSet.put
    const NO_COLOUR = [0, 0, 0, 0];  // the selected vehicle's ring is drawn by its layer's look

    /** Put the vehicle in slot ``s`` of the live city's table on (or off) its layer. Its numbers
     * go from the table's typed arrays into locals and ``at``, never into an array of values or
     * a call's arguments (either boxes a double): a second's 20,000 moves leave no garbage to
     * collect (~1 MB a second did, and the collections that followed made the busiest seconds).
     * Its status tag is kept only while the clusters, which count it, are shown (``keepTags``,
     * from ``tagging``); otherwise the tags go stale and are read again before the clusters are
     * next drawn. */
    function putVehicle(table, s, model, keepTags) {
        const id = table.ids[s], lat = table.raw(s, F.lat), lon = table.raw(s, F.lon), type = table.str(s, F.type);
        if (lat !== lat || lon !== lon || (state.types && !state.types.has(type))) {  // NaN: no position
            sets.vehicles.drop(id);
            return;
        }
        at[0] = mercX(lon);
        at[1] = mercY(lat);
        at[2] = table.raw(s, F.heading);
        place(at[0], at[1]);
        if (model) noteStill(id, table.raw(s, F.speed), table.raw(s, F.ts), model);
        const colour = state.colourBy === "speed" && state.style.bands.length
            ? rgba(state.style.bands[speedBand(table.raw(s, F.speed) || 0)].colour)
            : rgba(state.style.vehicle_colours[type] || "#777777");
        const slot = sets.vehicles.put(id, at, colour, origin);
        if (keepTags) sets.vehicles.tag[slot] = stateTag(table, s, model);
        if (id === state.selected) moveSelected(lat, lon, table.num(s, F.ts));
    }

    /** Whether vehicles' status tags are to be kept now (see ``putVehicle``). */
    function tagging(model) {
        if (model && clustered()) return true;
        state.taggedAt = -Infinity;  // stale from here: read again before the clusters are drawn
        return false;
    }

    function pointColour(layer, obj) {
        if (layer === "incidents") return rgba(state.style.severity_colours[obj.severity] || "#dc3545");
        if (layer === "sensors") return rgba(state.style.level_colours[obj.congestion_level] || "#999999");
        return rgba(LOOK[layer].fill || "#ffffff");
    }

    function putPoint(layer, id, obj) {
        if (!obj || obj.lat === undefined || obj.lon === undefined || obj.lat === null || obj.lon === null
            || (layer === "incidents" && obj.status === "Resolved")) {
            sets[layer].drop(id);
            return;
        }
        at[0] = mercX(obj.lon);
        at[1] = mercY(obj.lat);
        at[2] = NaN;
        place(at[0], at[1]);
        sets[layer].put(id, at, pointColour(layer, obj), origin);
    }

    /** Redraw every layer from the live city (a snapshot, a new map, a new colouring). */
    function fromCity() {
        const lv = live();
        if (!lv || !lv.city) return;
        F = fieldIndex();
        state.now = cityNow();
        ["vehicles", "incidents", "sensors", "stations"].forEach((layer) => sets[layer].clear());
        stillSince.forEach((_, id) => { if (!lv.city.vehicles.has(id)) stillSince.delete(id); });
        const table = lv.city.vehicles, model = statusRules(), tags = tagging(model);
        for (let s = 0; s < table.size; s++) putVehicle(table, s, model, tags);
        ["incidents", "sensors", "stations"].forEach((layer) => {
            lv.city[FEED[layer]].forEach((obj, id) => putPoint(layer, id, obj));
        });
        schedule();
    }

    function onLive(event) {
        const t0 = performance.now();
        apply(event.detail || {});
        state.stats.applyMs += performance.now() - t0;
    }

    function apply(d) {
        state.stats.updates += 1;
        if (state.stats.firstLiveAt === null) state.stats.firstLiveAt = performance.now();
        if (d.snapshot || !F) { fromCity(); return; }
        const city = d.city || live().city, model = statusRules(), tags = tagging(model);
        state.now = cityNow();
        ["vehicles", "incidents", "sensors", "stations"].forEach((layer) => {
            const kind = FEED[layer], store = city[kind];
            ((d.removed && d.removed[kind]) || []).forEach((id) => {
                sets[layer].drop(id);
                if (layer === "vehicles") stillSince.delete(id);
                if (layer === "vehicles" && id === state.selected) gone();
            });
            ((d.changed && d.changed[kind]) || []).forEach((id) => {
                if (layer === "vehicles") {
                    const s = store.slotOf.get(id);
                    if (s !== undefined) putVehicle(store, s, model, tags); else sets.vehicles.drop(id);
                } else putPoint(layer, id, store.get(id));
            });
        });
        schedule();
    }

    function onStatus(event) {
        const grey = !!event.detail && event.detail.state !== "live";
        if (grey === state.grey) return;
        state.grey = grey;
        if (state.map) state.map.getContainer().classList.toggle("smartcity-map-stale", grey);
        schedule();
    }

    // ---- drawing ---------------------------------------------------------------------------
    function schedule() {
        if (!state.map || state.frame) return;
        state.frame = requestAnimationFrame(draw);
    }

    /** The view's top-left in world px at the current zoom, and the zoom's scale. */
    function viewOf(map) {
        const topLeft = map.containerPointToLayerPoint([0, 0]).add(map.getPixelOrigin());
        const scale = Math.pow(2, map.getZoom());
        return {topLeft: topLeft, scale: scale};
    }

    /** The point renderer: WebGL on a GPU; Canvas 2D where WebGL is missing or software, where
     * it costs more (its rasterising and read-back on the CPU: at 20,000 points 81 ms a second of
     * main thread against Canvas 2D's 49 here), drawn in a worker where the browser has
     * OffscreenCanvas (`python -m benchmarks.browser --renderer …` measures each). */
    function renderer() {
        if (state.gl) return state.gl;
        const kind = FORCED || (webglInfo().software ? "canvas" : "webgl");
        const pane = state.map.getPane("smartcity-points");
        let canvas = L.DomUtil.create("canvas", "smartcity-points leaflet-zoom-hide", pane);
        canvas.style.pointerEvents = "none";
        const made = pointRenderer(canvas, kind);
        if (made.canvas && made.canvas !== canvas) {  // WebGL failed: its replacement canvas
            pane.replaceChild(made.canvas, canvas);
            canvas = made.canvas;
        }
        Object.assign(state, {canvas: canvas, gl: made.points, drawnWith: made.kind});
        return state.gl;
    }

    function arrowsShown() { return !!state.map && state.map.getZoom() >= ARROW_ZOOM; }

    /** A layer's point diameter (CSS px) as drawn now. */
    function drawnSize(layer) { return sizeOf(LOOK[layer], {arrows: arrowsShown()}); }

    function draw() {
        state.frame = 0;
        const map = state.map;
        if (!map) return;
        const points = renderer();
        const t0 = performance.now();
        const size = map.getSize();
        const v = viewOf(map);
        const at = map.containerPointToLayerPoint([0, 0]), canvas = state.canvas;
        const vehicles = sets.vehicles.visible ? sets.vehicles.size : 0;
        // the canvas is placed when its frame shows: at once here, or when a worker has drawn it
        const shown = () => {
            L.DomUtil.setPosition(canvas, at);
            canvas.style.width = size.x + "px";
            canvas.style.height = size.y + "px";
            state.stats.drawnVehicles = vehicles;
        };
        const bubbles = clustered();
        points.draw(DRAW_ORDER.filter((n) => !(bubbles && n === "vehicles")).map((n) => sets[n]), {
            width: size.x, height: size.y, scale: v.scale, grey: state.grey ? 1 : 0, arrows: arrowsShown(),
            shift: [v.topLeft.x - origin[0] * v.scale, v.topLeft.y - origin[1] * v.scale],
        }, shown);
        if (state.drawnWith !== "canvas-worker") shown();
        if (bubbles && performance.now() - state.taggedAt > RETAG_MS) retag();
        state.clusters = bubbles ? makeClusters(v, size) : [];
        drawClusters(size);
        state.stats.frames += 1;
        state.stats.drawMs += performance.now() - t0;
        state.stats.clusters = state.clusters.length;
        if (state.hovered && bubbles && state.hovered.layer === "vehicles") hideTip();  // now inside a bubble
        if (state.hovered) showTip(state.hovered.layer, state.hovered.id);  // it may have moved
    }

    // ---- clusters: vehicles zoomed out ---------------------------------------------------------
    function clusterLook() { return state.style.clusters || null; }

    /** Whether vehicles are drawn as bubbles now (zoomed out below the console's threshold). */
    function clustered() {
        const look = clusterLook();
        return !!(look && state.map && sets.vehicles.visible && state.map.getZoom() < look.below_zoom);
    }

    /** The bubbles of this view: the vehicles on screen (and a cell beyond), grouped by a grid of
     * ``cell`` px squares fixed to the world (a pan moves the bubbles, never regroups them); each
     * at its vehicles' mean position, with its count, its count per status (the tags) and its
     * vehicles' bounds (a click zooms to them). */
    function makeClusters(v, size) {
        const look = clusterLook(), cell = look.cell, set = sets.vehicles, xy = set.xy, tag = set.tag;
        const sc = v.scale, ox = v.topLeft.x, oy = v.topLeft.y, n = set.size;
        const byCell = new Map(), out = [];
        for (let s = 0; s < n; s++) {
            const px = xy[2 * s] * sc, py = xy[2 * s + 1] * sc, x = px - ox, y = py - oy;
            if (x < -cell || y < -cell || x > size.x + cell || y > size.y + cell) continue;
            const key = Math.floor(px / cell) * 1e7 + Math.floor(py / cell);
            let b = byCell.get(key);
            if (!b) {
                b = {key: key, count: 0, x: 0, y: 0, states: [0, 0, 0], x0: x, x1: x, y0: y, y1: y, r: 0};
                byCell.set(key, b);
                out.push(b);
            }
            b.count += 1;
            b.x += x;
            b.y += y;
            b.states[tag[s]] += 1;
            if (x < b.x0) b.x0 = x; else if (x > b.x1) b.x1 = x;
            if (y < b.y0) b.y0 = y; else if (y > b.y1) b.y1 = y;
        }
        out.forEach((b) => {
            b.x /= b.count;
            b.y /= b.count;
            b.r = Math.min(look.max_size, look.size + 6 * Math.log10(b.count)) / 2;
        });
        return out;
    }

    function countText(n) {
        if (n < 1000) return String(n);
        return n < 10000 ? (Math.floor(n / 100) / 10) + "k" : Math.floor(n / 1000) + "k";
    }

    /** The bubbles on their own 2D canvas, under the points' (incidents stay on top): a disc in
     * the theme's background, the count in its text colour, a ring split by status. */
    function drawClusters(size) {
        const list = state.clusters;
        if (!list.length && !state.clusterCanvas) return;
        if (!state.clusterCanvas) {
            const c = L.DomUtil.create("canvas", "smartcity-clusters leaflet-zoom-hide");
            c.style.pointerEvents = "none";
            state.canvas.parentNode.insertBefore(c, state.canvas);
            state.clusterCanvas = c;
        }
        const c = state.clusterCanvas, dpr = window.devicePixelRatio || 1;
        const w = Math.max(1, Math.round(size.x * dpr)), h = Math.max(1, Math.round(size.y * dpr));
        L.DomUtil.setPosition(c, state.map.containerPointToLayerPoint([0, 0]));
        c.style.width = size.x + "px";
        c.style.height = size.y + "px";
        if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
        const ctx = c.getContext("2d");
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.clearRect(0, 0, size.x, size.y);
        if (!list.length) return;
        const theme = getComputedStyle(state.map.getContainer());
        const bg = theme.getPropertyValue("--bs-body-bg").trim() || "#ffffff";
        const fg = theme.getPropertyValue("--bs-body-color").trim() || "#212529";
        const colours = window.smartcityStatus.STATES.map((s) => (state.style.status_colours || {})[s] || "#777777");
        const ring = clusterLook().ring;
        ctx.globalAlpha = state.grey ? 0.45 : 1;
        ctx.font = "600 12px system-ui, -apple-system, 'Segoe UI', sans-serif";
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        list.forEach((b) => {
            ctx.beginPath();  // the edge: the text colour, thin, so a bubble stands out on any tile
            ctx.arc(b.x, b.y, b.r, 0, 2 * Math.PI);
            ctx.fillStyle = fg;
            ctx.fill();
            let from = -Math.PI / 2;  // the ring, clockwise from the top: moving, parked, offline
            ctx.lineWidth = ring;
            b.states.forEach((k, i) => {
                if (!k) return;
                const to = from + 2 * Math.PI * k / b.count;
                ctx.beginPath();
                ctx.arc(b.x, b.y, b.r - 1 - ring / 2, from, to);
                ctx.strokeStyle = colours[i];
                ctx.stroke();
                from = to;
            });
            ctx.beginPath();
            ctx.arc(b.x, b.y, b.r - 1 - ring, 0, 2 * Math.PI);
            ctx.fillStyle = bg;
            ctx.fill();
            ctx.fillStyle = fg;
            ctx.fillText(countText(b.count), b.x, b.y + 0.5);
        });
        ctx.globalAlpha = 1;
    }

    function clusterAt(point) {
        let best = null, bestD = Infinity;
        state.clusters.forEach((b) => {
            const d = (b.x - point.x) ** 2 + (b.y - point.y) ** 2;
            if (d <= (b.r + PICK_PX) ** 2 && d < bestD) { best = b; bestD = d; }
        });
        return best;
    }

    function clusterByKey(key) {
        for (const b of state.clusters) { if (b.key === key) return b; }
        return null;
    }

    /** Zoom in on a bubble: to its vehicles' bounds, and at least one step. */
    function zoomInto(b) {
        const map = state.map, pad = 24;
        const bounds = L.latLngBounds(map.containerPointToLatLng([b.x0 - pad, b.y1 + pad]),
            map.containerPointToLatLng([b.x1 + pad, b.y0 - pad]));
        const zoom = Math.min(map.getMaxZoom(), Math.max(map.getZoom() + 1, map.getBoundsZoom(bounds)));
        map.setView(bounds.getCenter(), zoom);
    }

    // ---- the vehicle panel's status (app/console/map.py status_row: the words are decided here) --
    /** Fill the panel's Status cell from the live row, or from the last report the cell carries
     * when the live city no longer holds the vehicle (it went past the active window). */
    // ---- picking, tooltip, selection ----------------------------------------------------------
    /** The point under a container point: an incident if one is there, else the nearest; zoomed
     * out, a sensor or station (drawn over the bubbles), else the bubble under it. */
    function pick(point) {
        const map = state.map, v = viewOf(map);
        const wx = (v.topLeft.x + point.x) / v.scale, wy = (v.topLeft.y + point.y) / v.scale;
        const within = (layer) => (drawnSize(layer) / 2 + PICK_PX) / v.scale;
        if (sets.incidents.visible) {
            const hit = sets.incidents.nearest(wx, wy, within("incidents"));
            if (hit) return {layer: "incidents", id: hit.id};
        }
        let best = null;
        const bubbles = state.clusters.length > 0;
        PICK_ORDER.forEach((layer) => {
            if (!sets[layer].visible || (bubbles && layer === "vehicles")) return;
            const hit = sets[layer].nearest(wx, wy, within(layer));
            if (hit && (!best || hit.d2 < best.d2)) best = {layer: layer, id: hit.id, d2: hit.d2};
        });
        if (best || !bubbles) return best;
        const b = clusterAt(point);
        return b ? {layer: "clusters", id: b.key} : null;
    }

    function tipLines(layer, id) {
        const city = live() && live().city;
        if (layer === "clusters") {
            const b = clusterByKey(id);
            if (!b) return [];
            const names = window.smartcityStatus.STATES;
            return [COUNT.format(b.count) + (b.count === 1 ? " vehicle" : " vehicles"),
                b.states.map((k, i) => COUNT.format(k) + " " + names[i]).join(" · "),
                "click to zoom in"];
        }
        if (!city) return [id];
        if (layer === "vehicles") {
            const r = city.vehicles.get(id);
            if (!r) return [id];
            const st = statusOf(id, r, cityNow());
            return [id + " (" + (r[F.type] || "?") + ")", Math.round(Number(r[F.speed]) || 0) + " km/h",
                r[F.road], st ? st.text : r[F.status]];
        }
        const q = city[FEED[layer]].get(id) || {id: id};
        if (layer === "incidents") {
            return [(q.incident_type || "incident") + " · " + (q.severity || "?"), q.description, q.status, id];
        }
        if (layer === "sensors") {
            return ["sensor " + (q.camera_id || id), q.road_name,
                (q.congestion_level || "?") + " · " + q.speed + " km/h"];
        }
        return ["weather " + id, q.weather_condition, q.temperature + " °C",
            q.airQualityIndex === undefined ? null : "AQI " + q.airQualityIndex];
    }

    function where(layer, id) {
        if (layer === "clusters") {
            const b = clusterByKey(id);
            return b ? L.point(b.x, b.y) : null;
        }
        const p = sets[layer].point(id);
        if (!p) return null;
        const v = viewOf(state.map);
        return L.point(p.x * v.scale - v.topLeft.x, p.y * v.scale - v.topLeft.y);
    }

    function showTip(layer, id) {
        const at = where(layer, id);
        if (!at) { hideTip(); return; }
        const tip = state.tip;
        const lines = tipLines(layer, id).filter((l) => l !== null && l !== undefined && l !== "");
        const text = lines.join("\n");
        if (tip.textContent !== text) tip.textContent = text;  // pre-line: each line on its own
        tip.hidden = false;
        // right of the point, or left of it where the map ends (the tip keeps its width: its CSS
        // width is max-content, so near the edge it would otherwise shrink to a word a line)
        const half = layer === "clusters" ? clusterByKey(id).r : drawnSize(layer) / 2;
        const size = state.map.getSize(), gap = half + 6, w = tip.offsetWidth, h = tip.offsetHeight;
        const left = at.x + gap + w <= size.x - 4 ? at.x + gap : at.x - gap - w;
        tip.style.left = Math.max(4, left) + "px";
        tip.style.top = Math.max(4, Math.min(at.y - 12, size.y - h - 4)) + "px";
        tip.dataset.layer = layer;
        tip.dataset.id = id;
        state.hovered = {layer: layer, id: id};
    }

    function hideTip() {
        state.hovered = null;
        if (state.tip) state.tip.hidden = true;
    }

    function onMouseMove(e) {
        if (state.drawing) { state.map.getContainer().style.cursor = ""; hideTip(); return; }  // CSS: crosshair
        const hit = pick(e.containerPoint);
        const clickable = hit && (hit.layer === "vehicles" || hit.layer === "incidents" || hit.layer === "clusters");
        state.map.getContainer().style.cursor = clickable ? "pointer" : "";
        if (hit) showTip(hit.layer, hit.id);
        else hideTip();
    }

    function onClick(e) {
        if (state.drawing) { addCorner(e.latlng); return; }  // drawing a zone: a click is a corner
        const hit = pick(e.containerPoint);
        if (!hit) return;
        if (hit.layer === "vehicles") api.select(hit.id);
        else if (hit.layer === "clusters") { hideTip(); zoomInto(clusterByKey(hit.id)); }
        else if (hit.layer === "incidents") setSelectedStore("incident:" + hit.id);
    }

    function setSelectedStore(value) {
        const dc = window.dash_clientside;
        if (dc && dc.set_props) dc.set_props("map-selected", {data: value});  // app/console/ids.py MAP_SELECTED
    }

    /** The selected vehicle moved: ring, track and (when followed) the view follow it. */
    function moveSelected(lat, lon, ts) {
        at[0] = mercX(lon);
        at[1] = mercY(lat);
        at[2] = NaN;
        sets.selected.put("selected", at, NO_COLOUR, origin);
        const pts = state.trackPoints, last = pts[pts.length - 1];
        if (!last || last[0] !== lat || last[1] !== lon) {
            pts.push([lat, lon, ts || 0]);
            if (pts.length > TRACK_POINTS) pts.splice(0, pts.length - TRACK_POINTS);
        }
        if (state.track) state.track.setLatLngs(pts.map((p) => [p[0], p[1]]));
        if (state.following && state.map) state.map.panTo([lat, lon], {animate: false});
    }

    function gone() {
        sets.selected.clear();
        state.trackPoints = [];
        if (state.track) state.track.setLatLngs([]);
    }

    /** The selected vehicle's recent track from the speed layer, joined to the live updates since. */
    function loadTrack(id) {
        fetch("/api/vehicles/" + encodeURIComponent(id), {credentials: "same-origin"})
            .then((r) => (r.ok ? r.json() : null))
            .then((v) => {
                if (!v || state.selected !== id) return;
                const older = (v.track || []).map((p) => [Number(p[0]), Number(p[1]), Number(p[2]) || 0]).reverse();
                const since = older.length ? older[older.length - 1][2] : 0;
                const newer = state.trackPoints.filter((p) => p[2] > since);
                state.trackPoints = older.concat(newer).slice(-TRACK_POINTS);
                const row = vehicleRow(id);
                if (row) moveSelected(row[F.lat], row[F.lon], row[F.ts]);  // the track ends at the marker
                else if (state.track) state.track.setLatLngs(state.trackPoints.map((p) => [p[0], p[1]]));
            })
            .catch(() => { /* no track: the live updates still draw one */ });
    }

    // ---- zones: the saved ones (GeoJSON Features, lon/lat) and the one being drawn ----------
    const ZONE_LOOK = {color: "#6f42c1", weight: 2, fillOpacity: 0.08, interactive: false};

    function drawZones() {
        if (!state.map) return;
        if (!state.zoneLayer) state.zoneLayer = L.layerGroup().addTo(state.map);
        state.zoneLayer.clearLayers();
        state.zones.forEach((f) => {
            const ring = ((f && f.geometry && f.geometry.coordinates) || [])[0] || [];
            if (ring.length < 3) return;
            const poly = L.polygon(ring.map((c) => [c[1], c[0]]), ZONE_LOOK).addTo(state.zoneLayer);
            const label = document.createElement("span");
            label.textContent = String((f.properties || {}).name || "");  // a user's text: as text
            poly.bindTooltip(label, {permanent: true, direction: "center", className: "smartcity-zone-label"});
        });
    }

    function drawDraft() {
        if (!state.map) return;
        if (!state.draftLayer) {
            state.draftLayer = L.layerGroup().addTo(state.map);
        }
        state.draftLayer.clearLayers();
        if (!state.draft.length) return;
        L.polygon(state.draft, Object.assign({}, ZONE_LOOK, {dashArray: "6 4", fillOpacity: 0.15})).addTo(state.draftLayer);
        state.draft.forEach((p) => L.circleMarker(p, {radius: 4, color: "#6f42c1", fillOpacity: 1, interactive: false})
            .addTo(state.draftLayer));
    }

    function addCorner(latlng) {
        state.draft.push([latlng.lat, latlng.lng]);
        drawDraft();
        window.dispatchEvent(new CustomEvent("smartcity:draft", {detail: {corners: state.draft.length}}));
    }

    // ---- the Leaflet map --------------------------------------------------------------------
    function attach(map) {
        if (state.map === map) return;
        if (state.map) detach();
        state.map = map;
        if (state.stats.mapAt === null) state.stats.mapAt = performance.now();
        const pane = map.getPane("smartcity-points") || map.createPane("smartcity-points");
        pane.style.zIndex = 450;
        pane.style.pointerEvents = "none";  // the map's one handler picks (below)
        const tip = L.DomUtil.create("div", "smartcity-tip", map.getContainer());
        Object.assign(tip.style, {
            position: "absolute", zIndex: 1000, pointerEvents: "none", whiteSpace: "pre-line",
            background: "var(--bs-body-bg)", color: "var(--bs-body-color)", border: "1px solid var(--bs-border-color)",
            borderRadius: "4px", padding: "4px 8px", fontSize: "12px", boxShadow: "0 1px 3px rgba(0,0,0,0.4)",
        });
        tip.hidden = true;
        state.tip = tip;
        state.track = L.polyline([], {color: "#ff00aa", weight: 4, interactive: false}).addTo(map);
        map.on("move zoom viewreset resize zoomend moveend", schedule);
        map.on("mousemove", onMouseMove);
        map.on("mouseout", hideTip);
        map.on("click", onClick);
        map.on("unload", detach);
        // the container can change size without a window resize (a scrollbar comes, a panel grows,
        // the tab is shown): Leaflet would go on centring, flying and picking in the old size
        if (typeof ResizeObserver !== "undefined") {
            state.resize = new ResizeObserver(() => { if (state.map === map) map.invalidateSize({animate: false}); });
            state.resize.observe(map.getContainer());
        }
        if (state.selected && state.trackPoints.length) state.track.setLatLngs(state.trackPoints.map((p) => [p[0], p[1]]));
        if (state.shown) api.show(Array.from(state.shown));
        drawZones();
        drawDraft();
        if (state.drawing) map.getContainer().classList.add("smartcity-drawing");
        fromCity();
    }

    function detach() {
        const map = state.map;
        if (!map) return;
        map.off("move zoom viewreset resize zoomend moveend", schedule);
        map.off("mousemove", onMouseMove);
        map.off("mouseout", hideTip);
        map.off("click", onClick);
        map.off("unload", detach);
        if (state.resize) state.resize.disconnect();
        state.resize = null;
        if (state.frame) cancelAnimationFrame(state.frame);
        state.frame = 0;
        [state.canvas, state.clusterCanvas, state.tip].forEach((el) => { if (el && el.parentNode) el.parentNode.removeChild(el); });
        [state.track, state.zoneLayer, state.draftLayer].forEach((layer) => { if (layer) layer.remove(); });
        Object.assign(state, {map: null, gl: null, drawnWith: null, canvas: null, tip: null, track: null, hovered: null,
            zoneLayer: null, draftLayer: null, clusterCanvas: null, clusters: []});
    }

    function hookLeaflet() {
        if (!window.L || !L.Map) return false;
        L.Map.addInitHook(function () {
            const map = this;
            if (!map.getContainer().classList.contains("smartcity-map")) return;  // app/console/map.py className
            map.whenReady(() => attach(map));
        });
        return true;
    }

    // ---- the console's API ------------------------------------------------------------------
    const api = {
        /** Select a vehicle (null: nothing); the details panel follows (Dash store map-selected). */
        select(id) {
            const was = state.selected;
            state.selected = id || null;
            if (id !== was) {
                gone();
                if (id) {
                    const row = vehicleRow(id);
                    if (row) moveSelected(row[F.lat], row[F.lon], row[F.ts]);
                    loadTrack(id);
                    setSelectedStore("vehicle:" + id);
                }
                schedule();
            }
            return state.selected;
        },
        /** Select a vehicle and fly to it (zoomed in to at least street level); ``at`` [lat, lon]
         * is where to go when it is not on the map (e.g. its type is filtered out). */
        focus(id, at) {
            api.select(id);
            const row = vehicleRow(id), map = state.map;
            const where = row ? [row[F.lat], row[F.lon]] : at;
            if (map && where) map.flyTo(where, Math.max(map.getZoom(), 16), {duration: 0.5});
            return state.selected;
        },
        /** Keep the selected vehicle in the centre of the map (pans on each of its updates). */
        follow(on) {
            state.following = !!on;
            const p = state.selected && sets.selected.has("selected");
            if (state.following && p && state.map) {
                const row = vehicleRow(state.selected);
                if (row) state.map.panTo([row[F.lat], row[F.lon]], {animate: false});
            }
            return state.following;
        },
        selected() { return state.selected; },
        /** The Leaflet map the layers are on (null before it is mounted): for layers of their own. */
        leafletMap() { return state.map; },
        /** Show only these layers (names: vehicles, incidents, sensors, stations; roads and tiles
         * are dash-leaflet's: their panes are hidden). */
        show(layers) {
            const on = new Set(layers || []);
            state.shown = on;
            if (state.map) {
                [["roads", "smartcity-roads"], ["tiles", "tilePane"]].forEach(([name, pane]) => {  // map.py ROADS_PANE
                    const el = state.map.getPane(pane);
                    if (el) el.style.display = on.has(name) ? "" : "none";
                });
            }
            ["vehicles", "incidents", "sensors", "stations"].forEach((n) => { sets[n].visible = on.has(n); });
            sets.selected.visible = on.has("vehicles");
            if (state.track) state.track.setStyle({opacity: on.has("vehicles") ? 1 : 0});
            if (state.hovered && state.hovered.layer !== "clusters" && !sets[state.hovered.layer].visible) hideTip();
            schedule();
        },
        /** The colours (app/console/map.py map_style), the colouring and the vehicle types shown. */
        view(style, colourBy, types) {
            state.style = Object.assign({vehicle_colours: {}, bands: [], level_colours: {}, severity_colours: {}}, style || {});
            Object.entries(state.style.looks || {}).forEach(([name, look]) => {
                if (LOOK[name]) Object.assign(LOOK[name], look);
            });
            state.colourBy = colourBy === "speed" ? "speed" : "type";
            state.types = Array.isArray(types) ? new Set(types) : null;
            fromCity();
        },
        /** Where a point is drawn: its container point ({x, y}) on the map, or null. */
        screenPoint(layer, id) {
            if (!state.map) return null;
            const at = where(layer, id);
            return at ? {x: at.x, y: at.y} : null;
        },
        /** Where a point is drawn, as [lat, lon], or null. */
        position(layer, id) {
            const p = sets[layer] && sets[layer].point(id);
            if (!p) return null;
            const n = Math.PI * (1 - 2 * p.y / TILE);
            return [Math.atan(Math.sinh(n)) * 180 / Math.PI, p.x / TILE * 360 - 180];
        },
        count(layer) { return sets[layer] ? sets[layer].size : 0; },
        has(layer, id) { return !!(sets[layer] && sets[layer].has(id)); },
        colour(layer, id) {
            const p = sets[layer] && sets[layer].point(id);
            return p ? Array.from(sets[layer].col.subarray(4 * p.slot, 4 * p.slot + 3)) : null;
        },
        visible(layer) { return !!(sets[layer] && sets[layer].visible); },
        /** Whether vehicles are drawn as bubbles (zoomed out), and the bubbles drawn: their
         * container point, count and count per status. */
        clustered() { return clustered(); },
        clusters() {
            const names = window.smartcityStatus ? window.smartcityStatus.STATES : [];
            return state.clusters.map((b) => {
                const out = {x: b.x, y: b.y, radius: b.r, count: b.count};
                names.forEach((name, i) => { out[name] = b.states[i]; });
                return out;
            });
        },
        /** A vehicle's status, {state, text} (assets/smartcity_status.js), or null when unknown. */
        status(id) {
            const row = vehicleRow(id);
            return row ? statusOf(id, row, cityNow()) : null;
        },
        track() { return state.trackPoints.map((p) => [p[0], p[1]]); },
        /** The zones to draw (GeoJSON Features with properties.name), replacing those drawn. */
        zones(features) { state.zones = Array.isArray(features) ? features : []; drawZones(); return state.zones.length; },
        /** Start (true) or stop drawing a zone: while drawing, each click on the map adds a corner. */
        drawZone(on) {
            state.drawing = !!on;
            state.draft = [];
            drawDraft();
            if (state.map) state.map.getContainer().classList.toggle("smartcity-drawing", state.drawing);
            if (state.drawing) hideTip();
            return state.drawing;
        },
        drawing() { return state.drawing; },
        /** The corners of the zone being drawn, [[lat, lon], ...]. */
        draft() { return state.draft.map((p) => [p[0], p[1]]); },
        stats() {
            return Object.assign({renderer: state.drawnWith, gpu: webglInfo().gpu, grey: state.grey}, state.stats);
        },
    };
    window.smartcityMap = api;

    // clientside callbacks (app/console/map.py)
    const nu = () => (window.dash_clientside ? window.dash_clientside.no_update : undefined);
    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        smartcity_map: {
            /** The colours, colouring and types shown; and whether the speed legend is hidden. */
            view(types, colourBy, style) {
                api.view(style, colourBy, types);
                return colourBy !== "speed";
            },
            layers(shown) { api.show(shown); return nu(); },
            follow(on) { api.follow(on); return nu(); },
            /** A selection made elsewhere (the Emergency tab's Map button, a click here). */
            selected(value) {
                const [kind, id] = String(value || "").split(/:(.*)/s);
                if (kind === "vehicle" && id !== state.selected) api.select(id);
                else if (kind !== "vehicle" && state.selected) api.select(null);
                return nu();
            },
        },
    });

    if (typeof window.addEventListener === "function") {
        window.addEventListener("smartcity:live", onLive);
        window.addEventListener("smartcity:status", onStatus);
    }
    if (!hookLeaflet()) {  // Leaflet loads after this file: hook it as soon as it is there
        let tries = 0;
        const wait = setInterval(() => { if (hookLeaflet() || ++tries > 500) clearInterval(wait); }, 20);
    }
})();
