/* The map's point layers: vehicles, incidents, traffic sensors, weather stations and the selected
 * vehicle's track; and the zones (admins' polygons) with the one being drawn. This file is their one owner: it creates them, updates them by id from the live
 * client's `smartcity:live` events (window.smartcityLive), and picks points under the mouse.
 *
 * Points are drawn by assets/smartcity_gl.js on one canvas in one Leaflet pane: with WebGL (one
 * draw call per layer) on a GPU, with Canvas 2D where WebGL is software (see renderer()). Picking never asks a canvas: one mouse handler on the map looks up
 * the nearest point in the layers' grids, incidents first.
 * Every text shown comes from devices or users: tooltips are built with textContent only. */
(function () {
    "use strict";

    const {TILE, PointSet, pointRenderer, webglInfo, mercX, mercY, rgba, sizeOf} = window.smartcityGL;  // assets/smartcity_gl.js (loads first)
    const PICK_PX = 4;  // the mouse may miss a point's edge by this much
    const TRACK_POINTS = 60;
    const ARROW_ZOOM = 16;  // from this zoom in, vehicles are drawn larger with an arrow of their heading
    // "?renderer=webgl" or "=canvas" fixes the renderer (benchmarks, and a browser that draws badly)
    const FORCED = ((asked) => (asked === "webgl" || asked === "canvas" ? asked : null))(
        new URLSearchParams(window.location ? window.location.search : "").get("renderer"));
    // what each layer looks like: size, stroke and fills come from the console (map.py LOOKS, in
    // map_style), which also draws the legend from them; filled in by api.view
    const LOOK = {};
    const DRAW_ORDER = ["sensors", "stations", "vehicles", "incidents", "selected"];
    DRAW_ORDER.forEach((name) => { LOOK[name] = {size: 0, stroke: 0, strokeColour: "#000000"}; });
    const PICK_ORDER = ["vehicles", "sensors", "stations"];  // after incidents, nearest wins
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
        stats: {updates: 0, frames: 0, drawnVehicles: 0, mapAt: null, firstLiveAt: null, applyMs: 0, drawMs: 0},
    };

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

    function vehicleColour(row) {
        if (state.colourBy === "speed" && state.style.bands.length) {
            return rgba(state.style.bands[speedBand(Number(row[F.speed]) || 0)].colour);
        }
        return rgba(state.style.vehicle_colours[row[F.type]] || "#777777");
    }

    /** Put one vehicle on (or off) its layer from the live city's row. */
    function putVehicle(id, row) {
        const lat = row[F.lat], lon = row[F.lon];
        if (lat === null || lat === undefined || lon === null || lon === undefined
            || (state.types && !state.types.has(row[F.type]))) {
            sets.vehicles.drop(id);
            return;
        }
        const x = mercX(lon), y = mercY(lat);
        place(x, y);
        sets.vehicles.put(id, x, y, vehicleColour(row), origin, row[F.heading]);
        if (id === state.selected) moveSelected(lat, lon, row[F.ts]);
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
        const x = mercX(obj.lon), y = mercY(obj.lat);
        place(x, y);
        sets[layer].put(id, x, y, pointColour(layer, obj), origin);
    }

    /** Redraw every layer from the live city (a snapshot, a new map, a new colouring). */
    function fromCity() {
        const lv = live();
        if (!lv || !lv.city) return;
        F = fieldIndex();
        ["vehicles", "incidents", "sensors", "stations"].forEach((layer) => sets[layer].clear());
        lv.city.vehicles.forEach((row, id) => putVehicle(id, row));
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
        const city = d.city || live().city;
        ["vehicles", "incidents", "sensors", "stations"].forEach((layer) => {
            const kind = FEED[layer], store = city[kind];
            ((d.removed && d.removed[kind]) || []).forEach((id) => {
                sets[layer].drop(id);
                if (layer === "vehicles" && id === state.selected) gone();
            });
            ((d.changed && d.changed[kind]) || []).forEach((id) => {
                const v = store.get(id);
                if (layer === "vehicles") { if (v) putVehicle(id, v); else sets.vehicles.drop(id); }
                else putPoint(layer, id, v);
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
     * main thread against Canvas 2D's 49 here; `python -m benchmarks.browser` measures both). */
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
        L.DomUtil.setPosition(state.canvas, map.containerPointToLayerPoint([0, 0]));
        state.canvas.style.width = size.x + "px";
        state.canvas.style.height = size.y + "px";
        points.draw(DRAW_ORDER.map((n) => sets[n]), {
            width: size.x, height: size.y, scale: v.scale, grey: state.grey ? 1 : 0, arrows: arrowsShown(),
            shift: [v.topLeft.x - origin[0] * v.scale, v.topLeft.y - origin[1] * v.scale],
        });
        state.stats.frames += 1;
        state.stats.drawMs += performance.now() - t0;
        state.stats.drawnVehicles = sets.vehicles.visible ? sets.vehicles.size : 0;
        if (state.hovered) showTip(state.hovered.layer, state.hovered.id);  // it may have moved
    }

    // ---- picking, tooltip, selection ----------------------------------------------------------
    /** The point under a container point: an incident if one is there, else the nearest. */
    function pick(point) {
        const map = state.map, v = viewOf(map);
        const wx = (v.topLeft.x + point.x) / v.scale, wy = (v.topLeft.y + point.y) / v.scale;
        const within = (layer) => (drawnSize(layer) / 2 + PICK_PX) / v.scale;
        if (sets.incidents.visible) {
            const hit = sets.incidents.nearest(wx, wy, within("incidents"));
            if (hit) return {layer: "incidents", id: hit.id};
        }
        let best = null;
        PICK_ORDER.forEach((layer) => {
            if (!sets[layer].visible) return;
            const hit = sets[layer].nearest(wx, wy, within(layer));
            if (hit && (!best || hit.d2 < best.d2)) best = {layer: layer, id: hit.id, d2: hit.d2};
        });
        return best;
    }

    function tipLines(layer, id) {
        const city = live() && live().city;
        if (!city) return [id];
        if (layer === "vehicles") {
            const r = city.vehicles.get(id);
            if (!r) return [id];
            return [id + " (" + (r[F.type] || "?") + ")", Math.round(Number(r[F.speed]) || 0) + " km/h",
                r[F.road], r[F.status]];
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
        const size = state.map.getSize(), gap = drawnSize(layer) / 2 + 6, w = tip.offsetWidth, h = tip.offsetHeight;
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
        state.map.getContainer().style.cursor = hit && (hit.layer === "vehicles" || hit.layer === "incidents") ? "pointer" : "";
        if (hit) showTip(hit.layer, hit.id);
        else hideTip();
    }

    function onClick(e) {
        if (state.drawing) { addCorner(e.latlng); return; }  // drawing a zone: a click is a corner
        const hit = pick(e.containerPoint);
        if (!hit) return;
        if (hit.layer === "vehicles") api.select(hit.id);
        else if (hit.layer === "incidents") setSelectedStore("incident:" + hit.id);
    }

    function setSelectedStore(value) {
        const dc = window.dash_clientside;
        if (dc && dc.set_props) dc.set_props("map-selected", {data: value});  // app/console/ids.py MAP_SELECTED
    }

    /** The selected vehicle moved: ring, track and (when followed) the view follow it. */
    function moveSelected(lat, lon, ts) {
        const x = mercX(lon), y = mercY(lat);
        sets.selected.put("selected", x, y, [0, 0, 0, 0], origin);
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
        [state.canvas, state.tip].forEach((el) => { if (el && el.parentNode) el.parentNode.removeChild(el); });
        [state.track, state.zoneLayer, state.draftLayer].forEach((layer) => { if (layer) layer.remove(); });
        Object.assign(state, {map: null, gl: null, drawnWith: null, canvas: null, tip: null, track: null, hovered: null,
            zoneLayer: null, draftLayer: null});
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
            if (state.hovered && !sets[state.hovered.layer].visible) hideTip();
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
