/* The console's live client: the one owner of the browser's live city state.
 *
 * Live data reaches the page only from the socket /ws/realtime (gzip frames) or, while the
 * socket is down, from GET /api/live (the same message as the socket's first one). Each message
 * is applied once to `city`, then announced on `window`:
 *   smartcity:live    {message, city, changed, removed, snapshot}
 *   smartcity:status  {state, colour, text, reason, dataAgeMs, via}
 * The read model (kinds, row columns, windows, thresholds) comes from the page's one JSON object
 * (pipeline/live_model.py browser_config); nothing here re-declares it. */
(function () {
    "use strict";

    const KINDS = ["vehicles", "incidents", "traffic", "weather"];
    const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
    const POLL_MS = 2000;  // the fallback's pace while the socket is down
    const PROBE_MS = 5000;  // a quiet socket (no heartbeat known): ask the speed layer this often
    const UNREACHABLE = "speed layer unreachable";

    let model = null;
    const city = {
        vehicles: new Map(), incidents: new Map(), traffic: new Map(), weather: new Map(),
        summary: null, newestEventMs: null, serverOffsetMs: 0,
    };
    let newestAtServerMs = null;  // the server's time when newestEventMs last moved on
    const conn = {
        socket: null, open: false, attempt: 0, timer: null, heartbeat: false, lastMessageAt: null,
        polling: null, pollOk: false, probing: false, probedAt: 0, unreachable: null, everConnected: false,
    };
    let status = null;
    const listeners = {};

    function readModel() {
        if (model) return model;
        const el = document.getElementById("smartcity-live-model");
        model = el ? JSON.parse(el.textContent) : null;
        return model;
    }

    function serverNow() { return Date.now() + city.serverOffsetMs; }

    /** Event time on the city's clock: the newest event, moved on by the server's clock since. */
    function eventNow() {
        if (city.newestEventMs === null) return null;
        return city.newestEventMs + Math.max(0, serverNow() - newestAtServerMs);
    }

    function emptyIds() { return {vehicles: [], incidents: [], traffic: [], weather: []}; }

    function emit(name, detail) {
        window.dispatchEvent(new CustomEvent("smartcity:" + name, {detail: detail}));
        (listeners[name] || []).forEach((fn) => { try { fn(detail); } catch (e) { console.error(e); } });
    }

    /** Rows in the model's column order (a message names its own columns). */
    function rowMapper(fields) {
        const want = readModel().vehicle_fields;
        if (!fields || fields.join() === want.join()) return (row) => row;
        const at = want.map((f) => fields.indexOf(f));
        return (row) => at.map((i) => (i >= 0 ? row[i] : null));
    }

    /** Drop what has gone silent, in event time: vehicles past the active window, sensors and
     * stations past the sensor window. */
    function prune(removed) {
        const m = readModel();
        const now = eventNow();
        if (!m || now === null) return false;
        let any = false;
        const ts = m.vehicle_fields.indexOf("ts");
        for (const [id, row] of city.vehicles) {
            if (row[ts] !== null && row[ts] < now - m.active_ms) { city.vehicles.delete(id); removed.vehicles.push(id); any = true; }
        }
        ["traffic", "weather"].forEach((kind) => {
            for (const [id, r] of city[kind]) {
                if (typeof r.ts === "number" && r.ts < now - m.sensor_ms) { city[kind].delete(id); removed[kind].push(id); any = true; }
            }
        });
        return any;
    }

    function noteNewest(ms) {
        if (typeof ms !== "number" || !isFinite(ms)) return;
        if (city.newestEventMs === null || ms > city.newestEventMs) {
            city.newestEventMs = ms;
            newestAtServerMs = serverNow();
        }
    }

    /** Apply one snapshot or delta to `city` and announce it. */
    function apply(msg, via) {
        const m = readModel();
        if (!m || (msg.type !== "snapshot" && msg.type !== "delta")) return;
        conn.unreachable = null;  // a message built from the speed layer: it answers
        if (typeof msg.ts === "number") city.serverOffsetMs = msg.ts - Date.now();
        const snapshot = msg.type === "snapshot";
        const changed = emptyIds();
        const removed = emptyIds();
        let entities = 0;
        if (snapshot) {
            KINDS.forEach((kind) => { removed[kind] = Array.from(city[kind].keys()); city[kind].clear(); });
            city.newestEventMs = null;  // the snapshot says how new the city is
        }
        const toModel = rowMapper(msg.vehicle_fields);
        const ts = m.vehicle_fields.indexOf("ts");
        (msg.vehicles || []).forEach((raw) => {
            const row = toModel(raw);
            city.vehicles.set(row[0], row);
            changed.vehicles.push(row[0]);
            noteNewest(row[ts]);
            entities += 1;
        });
        ["incidents", "traffic", "weather"].forEach((kind) => {
            (msg[kind] || []).forEach((e) => {
                entities += 1;
                noteNewest(e.ts);
                if (kind === "incidents" && e.status === "Resolved") {
                    if (city.incidents.delete(e.id)) removed.incidents.push(e.id);
                    return;
                }
                city[kind].set(e.id, e);
                changed[kind].push(e.id);
            });
        });
        if (msg.summary) {
            city.summary = msg.summary;
            Object.values(msg.summary.last_event_ms || {}).forEach(noteNewest);
        }
        if (snapshot) {  // what the snapshot holds again was not removed
            KINDS.forEach((kind) => { removed[kind] = removed[kind].filter((id) => !city[kind].has(id)); });
        } else if (entities === 0 && via === "push") {
            conn.heartbeat = true;  // this hub beats: a silent socket is a broken one
        }
        prune(removed);
        api.messages += 1;
        emit("live", {message: msg, city: city, changed: changed, removed: removed, snapshot: snapshot});
        updateStatus();
    }

    function onMessage(msg, via) {
        if (msg && msg.type === "status") {
            conn.unreachable = msg.error ? UNREACHABLE : null;
            if (typeof msg.ts === "number") city.serverOffsetMs = msg.ts - Date.now();
            updateStatus();
            return;
        }
        apply(msg, via);
    }

    // --- the socket ------------------------------------------------------------------------
    function openSocket() {
        if (conn.socket || typeof WebSocket === "undefined") return;
        clearTimeout(conn.timer);
        conn.timer = null;
        const gzip = typeof DecompressionStream !== "undefined";
        const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/realtime"
            + (gzip ? "?encoding=gzip" : "");
        let ws;
        try {
            ws = new WebSocket(url);
        } catch (e) {
            reconnectLater();
            return;
        }
        conn.socket = ws;
        conn.heartbeat = false;
        ws.binaryType = "blob";
        let inOrder = Promise.resolve();  // inflating is asynchronous: apply in arrival order
        ws.onmessage = (event) => {
            conn.lastMessageAt = Date.now();
            const text = typeof event.data === "string" ? Promise.resolve(event.data)
                : new Response(event.data.stream().pipeThrough(new DecompressionStream("gzip"))).text();
            inOrder = inOrder.then(() => text).then((t) => {
                if (conn.socket !== ws) return;
                if (!conn.open) {  // the first message: push is live
                    conn.open = true;
                    conn.attempt = 0;
                    conn.everConnected = true;
                    stopPoll();
                }
                onMessage(JSON.parse(t), "push");
            }).catch((e) => console.warn("live message skipped", e));
        };
        ws.onclose = (event) => {
            if (conn.socket !== ws) return;
            conn.socket = null;
            conn.open = false;
            conn.heartbeat = false;
            if (event && typeof event.reason === "string" && event.reason.indexOf(UNREACHABLE) >= 0) {
                conn.unreachable = UNREACHABLE;  // the server said why it closed
            }
            updateStatus();
            startPoll();
            reconnectLater();
        };
    }

    function reconnectLater() {
        if (conn.timer !== null) return;
        const base = BACKOFF_MS[Math.min(conn.attempt, BACKOFF_MS.length - 1)];
        conn.attempt += 1;
        conn.timer = setTimeout(() => { conn.timer = null; openSocket(); }, base + Math.random() * base * 0.3);
    }

    // --- the poll fallback (and the probe of a quiet socket) ---------------------------------
    /** GET /api/live: the snapshot when the speed layer answers (applied), else why not. */
    function fetchLive(applyIt) {
        return fetch("/api/live", {credentials: "same-origin", cache: "no-store"}).then((resp) => {
            if (resp.status === 503) { conn.unreachable = UNREACHABLE; return false; }
            if (!resp.ok) throw new Error("HTTP " + resp.status);
            return resp.json().then((msg) => {
                const was = conn.unreachable;
                conn.unreachable = null;
                if (applyIt || was) onMessage(msg, "poll");
                return true;
            });
        });
    }

    function poll() {
        if (conn.open) { stopPoll(); return; }
        fetchLive(true).then((ok) => {
            const recovered = ok && !conn.pollOk;
            conn.pollOk = ok;
            if (recovered && !conn.socket) {  // the server answers again: try the socket now
                conn.attempt = 0;
                clearTimeout(conn.timer);
                conn.timer = null;
                openSocket();
            }
        }).catch(() => { conn.pollOk = false; }).finally(() => {
            updateStatus();
            if (conn.polling !== null) conn.polling = setTimeout(poll, POLL_MS);
        });
    }

    function startPoll() {
        if (conn.polling !== null || conn.open) return;
        conn.polling = setTimeout(poll, 0);
    }

    function stopPoll() {
        clearTimeout(conn.polling);
        conn.polling = null;
        conn.pollOk = false;
    }

    /** Each second: prune, check the socket, and say how fresh the city is. */
    function everySecond() {
        const m = readModel();
        if (!m) return;
        const removed = emptyIds();
        if (prune(removed)) {
            emit("live", {message: {type: "prune"}, city: city, changed: emptyIds(), removed: removed, snapshot: false});
        }
        const quietMs = conn.lastMessageAt === null ? 0 : Date.now() - conn.lastMessageAt;
        if (conn.open && conn.heartbeat && quietMs > 2 * m.heartbeat_ms) {
            const ws = conn.socket;  // a hub that beats fell silent: the socket is broken
            ws.close();
            ws.onclose({reason: ""});  // now, not after the closing handshake times out
        } else if (conn.open && !conn.heartbeat && quietMs > m.heartbeat_ms) {
            if (!conn.probing && Date.now() - conn.probedAt > PROBE_MS) {
                // a hub that sends nothing when nothing changes: ask whether the speed layer answers
                conn.probing = true;
                conn.probedAt = Date.now();
                fetchLive(false).catch(() => {}).finally(() => { conn.probing = false; updateStatus(); });
            }
        }
        updateStatus(true);
    }

    function ageText(ms) {
        const s = Math.max(0, ms) / 1000;
        if (s < 10) return s.toFixed(1) + " s";
        if (s < 120) return Math.floor(s) + " s";
        if (s < 7200) return Math.floor(s / 60) + " min";
        return Math.floor(s / 3600) + " h";
    }

    /** The state shown: the speed layer first, then the connection, then the data's age. */
    function computeStatus() {
        const m = readModel();
        const age = city.newestEventMs === null ? null : Math.max(0, serverNow() - city.newestEventMs);
        const via = conn.open ? "push" : conn.pollOk ? "poll" : null;
        const old = age === null ? "" : " · data " + ageText(age) + " old";
        if (conn.unreachable) {
            return {state: "down", colour: "danger", reason: UNREACHABLE, dataAgeMs: age, via: via,
                    text: UNREACHABLE + old};
        }
        if (via === null) {
            if (!conn.everConnected && conn.attempt === 0 && age === null) {
                return {state: "connecting", colour: "secondary", reason: null, dataAgeMs: null, via: null, text: "connecting…"};
            }
            return {state: "down", colour: "danger", reason: "reconnecting", dataAgeMs: age, via: null, text: "reconnecting" + old};
        }
        if (age === null) {
            return {state: "stale", colour: "warning", reason: "no data yet", dataAgeMs: null, via: via, text: "live via " + via + " · no data yet"};
        }
        if (age > m.stale_ms.amber) {
            const reason = "no data for " + ageText(age);
            return {state: "stale", colour: age > m.stale_ms.red ? "danger" : "warning", reason: reason, dataAgeMs: age,
                    via: via, text: reason + " (via " + via + ")"};
        }
        return {state: "live", colour: "success", reason: null, dataAgeMs: age, via: via, text: "live via " + via + old};
    }

    function updateStatus(always) {
        if (!readModel()) return;
        const next = computeStatus();
        const changed = !status || next.state !== status.state || next.colour !== status.colour || next.reason !== status.reason
            || next.via !== status.via;
        status = next;
        api.status = next;
        if (changed || always) emit("status", next);
    }

    const api = {
        get model() { return readModel(); },
        city: city,
        status: null,
        messages: 0,  // messages applied (the browser benchmark counts updates by it)
        on(name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
        eventNow: eventNow,
        ageText: ageText,
    };
    window.smartcityLive = api;

    function start() {
        if (!readModel()) return;  // a page without the model (login): no live client
        openSocket();
        updateStatus(true);
        setInterval(everySecond, 1000);
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
})();
