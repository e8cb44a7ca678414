/* Clientside code of the Smart City console: one namespace, window.dash_clientside.smartcity.
 * Every string that came from a device or a user is put into the page as TEXT
 * (textContent), never as HTML — tooltips included. */
(function () {
    "use strict";

    const CONGESTION = {free: "#2ca02c", light: "#98df8a", moderate: "#ffbf00", heavy: "#ff7f0e", severe: "#d62728"};
    const TABS = ["overview", "map", "emergency", "traffic", "weather", "history", "system"];  // ids.TAB_* without "tab-"
    const POLL_RETRY_MS = 10000;
    const CONNECT_GRACE_MS = 3000;
    const POLL_MS = {live: 5000, down: 1000};  // while push is live the poll only fills what push lacks
    const LEVEL_ORDER = {severe: 0, heavy: 1, moderate: 2, light: 3, free: 4};
    const SENSOR_STALE_MS = 900000;  // a sensor or station likewise (the speed layer's sensor_s)
    const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
    let lastFeedAt = null;
    let lastSummary = null;
    let dashReady = false;  // set_props works only once Dash has rendered the page
    const early = [];  // push messages that arrived before that
    let pollSince = null;  // when the poll in flight was sent; null when none is

    function setProps(id, props) {
        const dc = window.dash_clientside;
        if (dashReady && dc && dc.set_props) dc.set_props(id, props);
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
        [["traffic", "tab-traffic", trafficRows],
         ["weather", "tab-weather", () => Object.values(pushed.weather)]].forEach(([kind, own, rows]) => {
            const changed = msg[kind] || [];
            changed.forEach((r) => { pushed[kind][r.id] = r; });
            let gone = false;  // a sensor silent for SENSOR_STALE_MS has left the speed layer's index too
            const newest = Math.max(0, ...Object.values(pushed[kind]).map((r) => r.ts || 0));
            for (const id in pushed[kind]) {
                if (newest - (pushed[kind][id].ts || 0) > SENSOR_STALE_MS) { delete pushed[kind][id]; gone = true; }
            }
            if (!snap && !changed.length && !gone) return;
            const all = rows();
            const drawn = JSON.stringify(all.map((r) => [r.id, r.lat, r.lon, r.congestion_level]));
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

    // bridge: replaced by smartcity_live.js -- the live city (window.smartcityLive.city) kept
    // from the socket's messages, announced with smartcity:live and smartcity:status events
    function bridge(msg) {
        let lv = window.smartcityLive;
        if (!lv) {
            const el = document.getElementById("smartcity-live-model");
            const model = el ? JSON.parse(el.textContent) : {vehicle_fields: [], active_ms: 120000, sensor_ms: 900000};
            lv = window.smartcityLive = {model: model, city: null, status: null, on: (name, fn) =>
                window.addEventListener("smartcity:" + name, (e) => fn(e.detail))};
        }
        const snapshot = msg.type === "snapshot";
        if (snapshot || !lv.city) {
            lv.city = {vehicles: new Map(), incidents: new Map(), traffic: new Map(), weather: new Map(),
                summary: null, newestEventMs: null, serverOffsetMs: 0};
        }
        const city = lv.city, fields = msg.vehicle_fields || lv.model.vehicle_fields, idAt = fields.indexOf("id");
        const tsAt = fields.indexOf("ts");
        const changed = {vehicles: [], incidents: [], traffic: [], weather: []};
        const removed = {vehicles: [], incidents: [], traffic: [], weather: []};
        (msg.vehicles || []).forEach((row) => {
            city.vehicles.set(row[idAt], row);
            changed.vehicles.push(row[idAt]);
            if (row[tsAt] > (city.newestEventMs || 0)) city.newestEventMs = row[tsAt];
        });
        ["incidents", "traffic", "weather"].forEach((kind) => (msg[kind] || []).forEach((e) => {
            if (kind === "incidents" && e.status === "Resolved") {
                if (city.incidents.delete(e.id)) removed.incidents.push(e.id);
                return;
            }
            city[kind].set(e.id, e);
            changed[kind].push(e.id);
        }));
        if (msg.summary) city.summary = msg.summary;
        const newest = city.newestEventMs || 0;
        city.vehicles.forEach((row, id) => {
            if (newest - row[tsAt] > lv.model.active_ms) { city.vehicles.delete(id); removed.vehicles.push(id); }
        });
        ["traffic", "weather"].forEach((kind) => city[kind].forEach((e, id) => {
            if (newest - (e.ts || 0) > lv.model.sensor_ms) { city[kind].delete(id); removed[kind].push(id); }
        }));
        window.dispatchEvent(new CustomEvent("smartcity:live",
            {detail: {message: msg, city: city, changed: changed, removed: removed, snapshot: snapshot}}));
    }

    const ns = {
        // Push state: the vehicles the socket told us about (id -> {feature, seen}), the socket.
        live: {state: null, socket: null, attempt: 0, messages: 0},

        roadStyle(feature, context) {
            const levels = (context && context.hideout && context.hideout.levels) || {};
            const key = feature.id !== undefined ? feature.id : (feature.properties || {}).id;
            const level = levels[key];
            return level ? {color: CONGESTION[level], weight: 5, opacity: 0.9}
                         : {color: "#7a8599", weight: 3, opacity: 0.7};
        },

        // --- live updates over /ws/realtime ---------------------------------------------------
        onMessage(msg) {
            ns.live.messages += 1;  // messages applied
            if (msg.type === "snapshot") {
                ns.live.attempt = 0;
                ns.setPush("live");
            } else if (msg.type !== "delta") {
                return;
            }
            feedStores(msg);
        },
        setPush(state) {
            if (ns.live.state === state) return;
            ns.live.state = state;
            setProps("shell-push", {data: state});
            const live = state === "live";  // bridge: replaced by smartcity_live.js
            window.dispatchEvent(new CustomEvent("smartcity:status", {detail: {state: live ? "live" : "down",
                colour: live ? "success" : "danger", text: state, reason: live ? null : "reconnecting",
                dataAgeMs: null, via: live ? "push" : null}}));
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
                    // bridge: replaced by smartcity_live.js (the map waits for no Dash callback)
                    if (msg.type === "snapshot" || msg.type === "delta") bridge(msg);
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
        roadLevels(rows, hideout) {
            const levels = {};
            (rows || []).forEach((r) => {
                if (r.segment_id && r.congestion_level) levels[r.segment_id] = r.congestion_level;
            });
            const old = (hideout && hideout.levels) || {};
            if (JSON.stringify(old) === JSON.stringify(levels)) return window.dash_clientside.no_update;
            return Object.assign({}, hideout, {levels: levels});
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
