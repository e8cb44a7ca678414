/* Clientside code of the Smart City console: one namespace, window.dash_clientside.smartcity.
 * Every string that came from a device or a user is put into the page as TEXT
 * (textContent), never as HTML — tooltips included. */
(function () {
    "use strict";

    const CONGESTION = {free: "#2ca02c", light: "#98df8a", moderate: "#ffbf00", heavy: "#ff7f0e", severe: "#d62728"};
    const TABS = ["overview", "map", "emergency", "traffic", "weather", "history", "system"];  // ids.TAB_* without "tab-"
    let dashReady = false;  // set_props works only once Dash has rendered the page

    function setProps(id, props) {
        const dc = window.dash_clientside;
        if (dashReady && dc && dc.set_props) dc.set_props(id, props);
    }

    /** The console's calls of its own API, as the signed-in user: resolves to the JSON body (null
     * when there is none); an answer that is not 2xx rejects with an Error carrying ``status`` and
     * ``apiMessage`` (the API's ``error.message``, or null), its message that or "HTTP <status>".
     * No answer at all rejects as fetch does (no ``status``). The other asset files call this. */
    function call(method, url, body) {
        const init = {method: method, credentials: "same-origin", cache: "no-store"};
        if (body !== undefined) {
            init.headers = {"Content-Type": "application/json"};
            init.body = JSON.stringify(body);
        }
        return fetch(url, init).then((r) => r.text().then((text) => {
            let json = null;
            try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
            if (!r.ok) {
                const message = (json && json.error && json.error.message) || null;
                throw Object.assign(new Error(message || "HTTP " + r.status), {status: r.status, apiMessage: message});
            }
            return json;
        }));
    }
    window.smartcityApi = {call: call};

    // --- times: the one formatter of the times the browser prints ------------------------------
    /* In the city's zone (the page's config object, script "smartcity-live-model", city_time_zone:
     * SMARTCITY_CITY_TIMEZONE) unless this browser chose UTC (the navbar's switch, handed in by
     * ns.timeZone); printed as app/console/chart.py clock prints them: "2026-12-07 14:03:05 CET".
     * A time is epoch milliseconds or ISO text (without an offset: UTC, as on the server). */
    const times = {utc: false, city: null, formats: new Map()};

    function cityZone() {
        if (times.city === null) {
            const el = document.getElementById("smartcity-live-model");
            let config = null;
            try { config = el ? JSON.parse(el.textContent) : null; } catch (e) { config = null; }
            times.city = (config && config.city_time_zone) || "UTC";
        }
        return times.city;
    }

    function shownZone() { return times.utc ? "UTC" : cityZone(); }

    /** ``value`` as a time of the zone shown, with the zone's abbreviation ("" when absent; an
     * unreadable one as it is written); ``timeOnly``: "14:03:05 CET". */
    function clock(value, timeOnly) {
        if (value === null || value === undefined || value === "") return "";
        let at = value;
        if (typeof value === "string" && /T\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(value)) at = value + "Z";  // naive: UTC
        const when = new Date(typeof at === "number" ? at : String(at));
        if (isNaN(when.getTime())) return String(value);
        const zone = shownZone(), key = zone + (timeOnly ? " time" : "");
        let format = times.formats.get(key);
        if (!format) {
            const parts = {timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
                           timeZoneName: "short"};
            if (!timeOnly) Object.assign(parts, {year: "numeric", month: "2-digit", day: "2-digit"});
            format = new Intl.DateTimeFormat("en-GB", parts);
            times.formats.set(key, format);
        }
        const p = {};
        format.formatToParts(when).forEach((part) => { p[part.type] = part.value; });
        const day = timeOnly ? "" : p.year + "-" + p.month + "-" + p.day + " ";
        return day + p.hour + ":" + p.minute + ":" + p.second + " " + p.timeZoneName;
    }
    window.smartcityTime = {clock: clock, zone: shownZone};
    /** An AG Grid time column's header (headerValueGetter): its name with the zone shown, in
     * place of the zone the server named ("Reported (<city zone>)" -> "Reported (UTC)"). */
    window.dashAgGridFunctions = Object.assign({}, window.dashAgGridFunctions, {
        smartcityTimeHeader: (params) => String(params.colDef.headerName || "").replace(/ \([^()]*\)$/, "")
            + " (" + shownZone() + ")",
    });

    const ns = {
        roadStyle(feature, context) {
            const levels = (context && context.hideout && context.hideout.levels) || {};
            const key = feature.id !== undefined ? feature.id : (feature.properties || {}).id;
            const level = levels[key];
            return level ? {color: CONGESTION[level], weight: 5, opacity: 0.9}
                         : {color: "#7a8599", weight: 3, opacity: 0.7};
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
         * (tab switches in between read nothing). The store: {tab, every_ms, at}. Returns [the new
         * stamp, the clock stopped] (app/console/shown.py): the clock runs only while shown. */
        recentTick(n, active, stamp, stopped) {
            const s = stamp || {};
            const nu = window.dash_clientside.no_update;
            const hidden = active !== s.tab;
            const clock = hidden === stopped ? nu : hidden;
            const now = Date.now();
            if (hidden || (s.at && now - s.at < 0.8 * s.every_ms)) return [nu, clock];
            return [Object.assign({}, s, {at: now}), clock];
        },
        /** The navbar's UTC switch (remembered by this browser): the zone the browser's times are
         * printed in, announced so what shows times draws them again (smartcity:timezone). */
        timeZone(utc) {
            times.utc = !!utc;
            window.dispatchEvent(new CustomEvent("smartcity:timezone", {detail: {zone: shownZone()}}));
            return shownZone();
        },
        applyTheme(dark) {
            document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
            return dark ? "dark" : "light";
        },
        /** A link to a tab: /#map opens the Map tab (read once, when the page loads). */
        /** The page's first clientside callback (Dash is up, set_props works): the tab linked to. */
        tabOnLoad() {
            dashReady = true;
            return ns.tabFromHash();
        },
        tabFromHash() {
            const name = (location.hash || "").replace(/^#/, "");
            return TABS.indexOf(name) >= 0 ? "tab-" + name : window.dash_clientside.no_update;
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

    // --- the map's Dash part: the roads' congestion colours (their layer's hideout), redrawn
    // when the live city changes them (the points are assets/smartcity_map.js's, the selection's
    // details assets/smartcity_details.js's)
    function mapDash(detail) {
        if (!dashReady) return;
        const changed = detail.changed, removed = detail.removed;
        if (detail.snapshot || changed.traffic.length || removed.traffic.length) {
            const hideout = ns.roadLevels(Array.from(detail.city.traffic.values()), ns.roadHideout);
            if (hideout !== window.dash_clientside.no_update) {
                ns.roadHideout = hideout;
                setProps("map-roads", {hideout: hideout});  // app/console/ids.py MAP_ROADS
            }
        }
    }
    window.addEventListener("smartcity:live", (e) => mapDash(e.detail));

    window.dash_clientside = Object.assign({}, window.dash_clientside, {smartcity: ns});
    // a link to a tab followed from the page itself (or a hash typed in the address bar) opens it
    window.addEventListener("hashchange", () => {
        const tab = ns.tabFromHash();
        if (typeof tab === "string") setProps("shell-tabs", {active_tab: tab});  // app/console/ids.py SHELL_TABS
    });
})();

/* The console's live figures, drawn in the browser from the live client's city
 * (assets/smartcity_live.js): the navbar badge, the Overview cards, System's live counters, the
 * Emergency, Traffic and Weather grids (AG Grid, filled through its API) and their charts (alerts are
 * the server's: assets/smartcity_inbox.js). A stale figure is marked (class "stale", "(stale)"). */
(function () {
    "use strict";

    let stale = false;
    const dirty = new Set();  // figures whose data changed since they were drawn
    const filled = new WeakSet();  // grid elements given their rows (a remounted grid is a new element)

    const live = () => window.smartcityLive;
    /** Is ``el`` on screen: its tab is the one shown (read from the tab's class, which forces
     * no layout; offsetParent made the page lay itself out each second). */
    const shown = (el) => {
        if (!el || !el.isConnected) return false;
        const pane = el.closest(".tab-pane");
        return pane ? pane.classList.contains("active") : el.offsetParent !== null;
    };
    const fmt = (v, suffix) => (v === null || v === undefined ? "–" : v + (suffix || ""));
    const round = (v, digits) => (typeof v === "number" ? Math.round(v * 10 ** digits) / 10 ** digits : v);
    const plotlyText = (v) => String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

    function setText(id, text) {
        const el = document.getElementById(id);
        if (el && el.textContent !== text) el.textContent = text;
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
                    reported: window.smartcityTime.clock(i.first_seen !== undefined ? i.first_seen : i.ts),
                    age: ageOf(i.first_seen !== undefined ? i.first_seen : i.ts, now),
                }));
        },
        "traffic-table": (city, model) => Array.from(city.traffic.values())
            .sort((a, b) => model.levels.indexOf(b.congestion_level) - model.levels.indexOf(a.congestion_level)
                || (a.id < b.id ? -1 : 1))
            .map((t) => Object.assign({}, t, {speed: round(t.speed, 1), speed_limit: round(t.speed_limit, 1),
                                              occupancy: typeof t.occupancy === "number" ? Math.round(t.occupancy * 100) : null})),  // in %
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

    /** The segments flowing slowest against their speed limit (pipeline/live_model.py WORST_SEGMENTS). */
    function drawTrafficChart(city) {
        const rule = live().model.worst_segments, limit = (s) => s.speed_limit || rule.default_limit_kmh;
        const worst = Array.from(city.traffic.values()).filter((s) => typeof s.speed === "number")
            .sort((a, b) => a.speed / limit(a) - b.speed / limit(b)).slice(0, rule.count);
        // each bar says its speed (inside a long bar, past a short one): a road standing still (0 km/h,
        // the worst) has no bar to see; a long road name is cut on the axis (the layout's meta says
        // where: app/console/traffic.py), whole in the hover text
        const gd = document.querySelector("#traffic-worst .js-plotly-plot");
        const most = ((gd && gd.layout && gd.layout.meta) || {}).road_label_chars || 14;
        const road = (s) => s.road_name || s.segment_id || s.id;
        const cut = (name) => (name.length <= most ? name : name.slice(0, most - 1).trim() + "…");
        return react("traffic-worst", [{type: "bar", orientation: "h", x: worst.map((s) => s.speed),
            text: worst.map((s) => round(s.speed, 0) + " km/h"), textposition: "auto", cliponaxis: false,
            hovertext: worst.map((s) => plotlyText(road(s) + " (" + s.id + ")")), hoverinfo: "text+x",
            y: worst.map((s) => plotlyText(cut(road(s)) + " (" + s.id + ")"))}]);
    }

    function drawWeather(city) {
        const stations = GRIDS["weather-table"](city);
        // a trace per reading, each on its own axis, as the server laid them out (app/console/weather.py
        // readings_figure): its meta names the reading
        const gd = document.querySelector("#weather-chart .js-plotly-plot");
        const drawn = !!gd && react("weather-chart", (gd.data || []).map((trace) => Object.assign({}, trace, {
            x: stations.map((s) => plotlyText(s.id)), y: stations.map((s) => s[trace.meta])})));
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
        draw(false);
    }

    window.addEventListener("smartcity:live", (e) => onLive(e.detail));
    window.addEventListener("smartcity:status", (e) => onStatus(e.detail));
    window.addEventListener("smartcity:timezone", () => {  // the live grids' times and time headers, again
        Object.keys(GRIDS).forEach((id) => {
            dirty.add(id);
            if (document.getElementById(id) && window.dash_ag_grid && window.dash_ag_grid.getApiAsync) {
                window.dash_ag_grid.getApiAsync(id).then((api) => api.refreshHeader()).catch(() => {});
            }
        });
        draw(true);
    });
    window.smartcityFigures = {draw: draw, stale: () => stale};
})();
