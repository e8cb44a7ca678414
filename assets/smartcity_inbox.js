/* The alert inbox (app/console/inbox.py): the navbar's bell and unread count, the panel listing
 * alerts, a short toast and the chime for each alert that arrives after the page loaded.
 *
 * The server's alert log is the truth: GET /api/alerts?state=unread every few seconds gives the
 * count; alerts already unread when the page loads are counted, never announced again (a reload or
 * a login announces nothing). An alert stays until someone acknowledges it
 * (POST /api/alerts/<id>/acknowledge, operators and admins).
 * Every string of an alert is put into the page as TEXT (textContent), never as HTML. */
(function () {
    "use strict";

    const POLL_MS = 3000;
    const TOAST_MS = 8000;
    const TOASTS_AT_ONCE = 3;
    const ACTING = ["operator", "admin"];
    const COLOURS = {low: "secondary", medium: "info", high: "warning", critical: "danger"};
    const RANK = ["low", "medium", "high", "critical"];

    const st = {
        known: null,  // ids of alerts seen (null until the first answer: those are not announced)
        unread: [], unreadCount: 0, all: null, view: "unread",
        okAt: null, failedSince: null, error: null, timer: null, inflight: false,
        sound: true, ctx: null,
    };

    const nu = () => (window.dash_clientside ? window.dash_clientside.no_update : undefined);
    const el = (id) => document.getElementById(id);

    /** Set a component's props (ids every console page has; a dcc.Store has no element to look for). */
    function setProps(id, props) {
        const dc = window.dash_clientside;
        if (dc && dc.set_props) dc.set_props(id, props);
    }

    function node(tag, cls, text) {
        const n = document.createElement(tag);
        if (cls) n.className = cls;
        if (text !== undefined && text !== null) n.textContent = String(text);
        return n;
    }

    /** "just now", "40 s ago", "5 min ago", "3 h ago", "2 days ago". */
    function ago(iso) {
        const t = Date.parse(iso);
        if (!isFinite(t)) return "";
        const s = Math.round((Date.now() - t) / 1000);
        if (s < 10) return "just now";
        if (s < 60) return s + " s ago";
        if (s < 3600) return Math.floor(s / 60) + " min ago";
        if (s < 172800) return Math.floor(s / 3600) + " h ago";
        return Math.floor(s / 86400) + " days ago";
    }

    function role() {
        const box = el("inbox-bell-box");
        return (box && box.dataset.role) || "";
    }

    // --- the count and the server's state ------------------------------------------------------
    function drawCount() {
        const badge = el("inbox-count");
        if (!badge) return;
        const n = st.unreadCount;
        const text = st.okAt === null ? "…" : String(n);
        if (badge.textContent !== text) badge.textContent = text;
        const cls = "badge rounded-pill ms-1 bg-" + (n > 0 ? "danger" : "secondary");
        if (badge.className !== cls) badge.className = cls;
        const bell = el("inbox-bell");
        if (bell) bell.setAttribute("aria-label", "Alerts: " + text + " unread");
    }

    /** Like the live badge: how long the alert log has not answered, in words. */
    function drawStale() {
        const note = el("inbox-stale");
        if (!note) return;
        let text = "";
        if (st.failedSince !== null) {
            const lv = window.smartcityLive;
            const since = st.okAt !== null ? st.okAt : st.failedSince;
            const age = lv && lv.ageText ? lv.ageText(Date.now() - since) : Math.round((Date.now() - since) / 1000) + " s";
            text = "alerts stale: no answer for " + age + (st.error ? " (" + st.error + ")" : "");
        }
        if (note.textContent !== text) note.textContent = text;
        note.hidden = !text;
    }

    function poll() {
        clearTimeout(st.timer);
        if (st.inflight) { st.timer = setTimeout(poll, POLL_MS); return Promise.resolve(); }
        st.inflight = true;
        const wantAll = st.view === "all" && panelOpen();
        const get = (state) => window.smartcityApi.call("GET", "/api/alerts?state=" + state);
        return Promise.all([get("unread"), wantAll ? get("all") : Promise.resolve(null)])
            .then(([unread, all]) => {
                received(unread);
                if (all) st.all = all.alerts || [];
                st.okAt = Date.now();
                api.polls += 1;
                st.failedSince = null;
                st.error = null;
            })
            .catch((e) => {
                if (st.failedSince === null) st.failedSince = Date.now();
                st.error = e && e.status ? "HTTP " + e.status : "unreachable";
            })
            .finally(() => {
                st.inflight = false;
                drawCount();
                drawStale();
                drawList();
                st.timer = setTimeout(poll, POLL_MS);
            });
    }

    /** The unread alerts from the server: the count, and a toast for each alert not seen before. */
    function received(body) {
        const alerts = (body && body.alerts) || [];
        st.unread = alerts;
        st.unreadCount = typeof body.unread === "number" ? body.unread : alerts.length;
        if (st.known === null) {  // the page's first answer: all of it was there before the page
            st.known = new Set(alerts.map((a) => a.id));
            return;
        }
        const fresh = alerts.filter((a) => !st.known.has(a.id));
        if (st.known.size > 20000) st.known = new Set();  // what is still unread is re-added below
        alerts.forEach((a) => st.known.add(a.id));
        if (!fresh.length) return;
        fresh.sort((a, b) => RANK.indexOf(b.severity) - RANK.indexOf(a.severity));  // most severe first
        fresh.slice(0, TOASTS_AT_ONCE).forEach(toast);
        if (fresh.length > TOASTS_AT_ONCE) toast({severity: "medium", message: (fresh.length - TOASTS_AT_ONCE) + " more new alerts"});
        api.announced += fresh.length;
        chime();
    }

    // --- toasts ------------------------------------------------------------------------------
    function toast(alert) {
        const area = el("inbox-toasts");
        if (!area) return;
        const colour = COLOURS[alert.severity] || "warning";
        const t = node("div", "toast show inbox-toast border-" + colour);
        t.setAttribute("role", "alert");
        const body = node("div", "d-flex align-items-start toast-body py-2");
        const text = node("div", "me-2");
        text.appendChild(node("span", "badge me-2 bg-" + colour, alert.severity || "alert"));
        text.appendChild(node("span", "inbox-toast-text", alert.message || ""));
        const close = node("button", "btn-close ms-auto");
        close.type = "button";
        close.setAttribute("aria-label", "Close");
        close.addEventListener("click", () => t.remove());
        body.appendChild(text);
        body.appendChild(close);
        t.appendChild(body);
        area.appendChild(t);
        while (area.children.length > TOASTS_AT_ONCE + 1) area.removeChild(area.firstChild);
        api.toasts += 1;
        setTimeout(() => t.remove(), TOAST_MS);
    }

    // --- sound -------------------------------------------------------------------------------
    function audio() {
        const Ctx = window.AudioContext || window.webkitAudioContext;
        if (!Ctx) return null;
        if (!st.ctx) st.ctx = new Ctx();
        if (st.ctx.state === "suspended") st.ctx.resume().then(drawSoundNote, drawSoundNote);
        return st.ctx;
    }

    /** Whether the browser holds sound back (no click on the page yet: autoplay policy). */
    function soundBlocked() {
        if (!st.sound) return false;
        if (st.ctx) return st.ctx.state !== "running";
        const ua = navigator.userActivation;
        return !!ua && !ua.hasBeenActive;
    }

    function drawSoundNote() {
        const note = el("inbox-sound-note");
        if (!note) return;
        const blocked = soundBlocked();
        if (note.hidden !== !blocked) note.hidden = !blocked;
    }

    function chime() {
        if (!st.sound) return;
        const ctx = audio();
        if (!ctx || ctx.state !== "running") { api.blocked += 1; drawSoundNote(); return; }
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
        api.chimes += 1;
    }

    // the first click or key on the page lets the browser play sound: start the audio then (a click
    // is a user activation for the autoplay policy)
    function onGesture() {
        if (st.sound) audio();
        drawSoundNote();
    }

    // --- the panel ---------------------------------------------------------------------------
    function panelOpen() { return !!el("inbox-list"); }  // the offcanvas mounts its body only while open

    /** Where an alert's entity is: the alert's own lat/lon, else the live city's entity. */
    function placeOf(a) {
        if (typeof a.lat === "number" && typeof a.lon === "number") return {lat: a.lat, lon: a.lon, select: null};
        const lv = window.smartcityLive;
        if (!lv || !lv.city || !a.entity) return null;
        const id = String(a.entity).replace(/^incident:/, "");
        const city = lv.city;
        const inc = city.incidents.get(id);
        if (inc && typeof inc.lat === "number") return {lat: inc.lat, lon: inc.lon, select: "incident:" + id};
        const row = city.vehicles.get(id);
        const f = (lv.model && lv.model.vehicle_fields) || [];
        if (row && typeof row[f.indexOf("lat")] === "number") {
            return {lat: row[f.indexOf("lat")], lon: row[f.indexOf("lon")], select: "vehicle:" + id};
        }
        const fixed = city.traffic.get(id) || city.weather.get(id);
        if (fixed && typeof fixed.lat === "number") return {lat: fixed.lat, lon: fixed.lon, select: null};
        return null;
    }

    function showOnMap(place) {
        setProps("inbox-panel", {is_open: false});
        setProps("shell-tabs", {active_tab: "tab-map"});  // app/console/ids.py SHELL_TABS, TAB_MAP
        setProps("map-map", {viewport: {center: [place.lat, place.lon], zoom: 17, transition: "flyTo"}});
        if (place.select) setProps("map-selected", {data: place.select});
    }

    function acknowledge(id, button) {
        button.disabled = true;
        return window.smartcityApi.call("POST", "/api/alerts/" + encodeURIComponent(id) + "/acknowledge", {}).then(() => {
            st.unread = st.unread.filter((a) => a.id !== id);  // at once; the poll confirms
            st.unreadCount = Math.max(0, st.unreadCount - 1);
            drawCount();
            feedback("");
            return poll();
        }).catch((e) => {
            button.disabled = false;
            feedback("Not acknowledged: " + e.message);
        });
    }

    function feedback(text) {
        const box = el("inbox-feedback");
        if (!box) return;
        box.textContent = text;
        box.hidden = !text;
    }

    function item(a, canAct) {
        const colour = COLOURS[a.severity] || "secondary";
        const li = node("div", "list-group-item inbox-item" + (a.acknowledged_by ? " inbox-acknowledged" : ""));
        li.dataset.id = a.id;
        const head = node("div", "d-flex align-items-center gap-2 small");
        head.appendChild(node("span", "badge bg-" + colour, a.severity));
        const when = node("span", "text-body-secondary inbox-ago", ago(a.time));
        when.dataset.time = a.time || "";
        when.title = window.smartcityTime.clock(a.time);  // in the zone shown (assets/smartcity.js)
        head.appendChild(when);
        head.appendChild(node("span", "ms-auto text-body-secondary text-truncate inbox-entity", a.entity || ""));
        li.appendChild(head);
        li.appendChild(node("div", "inbox-message my-1", a.message || ""));
        if (a.acknowledged_by) {
            li.appendChild(node("div", "small text-body-secondary",
                "acknowledged by " + a.acknowledged_by + (a.acknowledged_at ? ", " + ago(a.acknowledged_at) : "")));
        }
        const buttons = node("div", "d-flex gap-1");
        if (!a.acknowledged_by && canAct) {
            const ack = node("button", "btn btn-sm btn-outline-warning", "Acknowledge");
            ack.type = "button";
            ack.addEventListener("click", () => acknowledge(a.id, ack));
            buttons.appendChild(ack);
        }
        const place = placeOf(a);
        if (place) {
            const show = node("button", "btn btn-sm btn-outline-primary", "Show on map");
            show.type = "button";
            show.addEventListener("click", () => showOnMap(place));
            buttons.appendChild(show);
        }
        if (buttons.children.length) li.appendChild(buttons);
        return li;
    }

    /** The panel's list, drawn again only when what it lists changed (never under the mouse for
     * nothing); the times in words move on in place. */
    function drawList() {
        const list = el("inbox-list");
        if (!list) return;
        const alerts = st.view === "all" ? (st.all || st.unread) : st.unread;
        const key = st.view + "|" + alerts.map((a) => a.id + (a.acknowledged_by ? "+" : "")).join(",");
        if (list.dataset.drawn !== key) {
            list.dataset.drawn = key;
            const canAct = ACTING.indexOf(role()) >= 0;
            const items = alerts.map((a) => item(a, canAct));
            if (!items.length) items.push(node("div", "list-group-item text-body-secondary", st.okAt === null
                ? "Loading alerts…" : st.view === "all" ? "No alerts." : "No unread alerts."));
            list.replaceChildren(...items);
        } else {
            list.querySelectorAll(".inbox-ago").forEach((n) => {
                const text = ago(n.dataset.time);
                if (n.textContent !== text) n.textContent = text;
            });
        }
    }

    const api = {
        chimes: 0,  // chimes played (the browser tests read these)
        blocked: 0,  // chimes the browser held back
        toasts: 0,
        announced: 0,
        polls: 0,  // answers of the alert log
        poll: poll,
        unread: () => st.unreadCount,
    };
    window.smartcityInbox = api;

    // clientside callbacks (app/console/inbox.py)
    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        smartcity_inbox: {
            toggle(n, open) { return n ? !open : nu(); },
            /** The panel opened or closed: when open, list at once (its body has just mounted). */
            opened(open) {
                if (open) { setTimeout(() => { drawList(); poll(); }, 0); }
                return nu();
            },
            view(value) {
                st.view = value === "all" ? "all" : "unread";
                st.all = null;
                drawList();
                if (st.view === "all") poll();
                return nu();
            },
            sound(on) {
                st.sound = on !== false;
                if (st.sound && navigator.userActivation && navigator.userActivation.hasBeenActive) audio();
                drawSoundNote();
                return nu();
            },
        },
    });

    function start() {
        if (!document.getElementById("smartcity-live-model")) return;  // the login page: no console
        // on click, not pointerdown: the note going moves the navbar, which must not happen under a press
        ["click", "keydown", "touchend"].forEach((name) => document.addEventListener(name, onGesture, {capture: true}));
        setInterval(() => { drawStale(); drawList(); drawSoundNote(); }, 1000);
        poll();
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
})();
