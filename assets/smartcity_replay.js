/* "Replay last hour" (app/console/map.py): the selected vehicle's positions of the last hour,
 * read from the lake (GET /api/history/vehicles/<id>/route), drawn as a dashed path with a
 * marker that runs along it in REPLAY_S seconds, the time and speed of each point shown in
 * words. This file owns that path and marker; Stop, or a new replay, removes them. */
(function () {
    "use strict";

    const ROOT = "map-replay";  // app/console/ids.py MAP_REPLAY
    const REPLAY_S = 30;  // an hour played in this many seconds
    const run = {timer: 0, path: null, marker: null, id: null};

    function say(text) {
        const out = document.getElementById(ROOT + "-status");
        if (out) out.textContent = text;
    }

    function clear() {
        clearInterval(run.timer);
        run.timer = 0;
        [run.path, run.marker].forEach((layer) => { if (layer) layer.remove(); });
        run.path = run.marker = null;
    }

    const clock = (iso) => window.smartcityTime.clock(iso, true);  // in the zone shown (assets/smartcity.js)

    function play(id, rows) {
        const map = window.smartcityMap && window.smartcityMap.leafletMap();
        if (!map || !window.L) return;
        const points = rows.map((r) => [r.latitude, r.longitude]);
        run.path = window.L.polyline(points, {color: "#fd7e14", weight: 3, dashArray: "6 6", interactive: false})
            .addTo(map);
        run.marker = window.L.circleMarker(points[0], {radius: 8, color: "#fd7e14", weight: 3, fillOpacity: 0.9,
            interactive: false}).addTo(map);
        map.fitBounds(run.path.getBounds(), {padding: [30, 30], maxZoom: 17, animate: false});
        const first = Date.parse(rows[0].event_time), last = Date.parse(rows[rows.length - 1].event_time);
        const span = Math.max(1, last - first), started = performance.now();
        let at = 0;
        run.timer = setInterval(() => {
            const due = first + (performance.now() - started) / (REPLAY_S * 1000) * span;
            while (at < rows.length - 1 && Date.parse(rows[at + 1].event_time) <= due) at += 1;
            const r = rows[at];
            run.marker.setLatLng([r.latitude, r.longitude]);
            const speed = typeof r.speed === "number" ? " · " + Math.round(r.speed) + " km/h" : "";
            say("Replaying " + id + ": " + clock(r.event_time) + speed + " (" + (at + 1) + " of " + rows.length + ")");
            if (at >= rows.length - 1) {
                clearInterval(run.timer);
                run.timer = 0;
                say("Replayed " + id + ": " + rows.length + " positions, " + clock(rows[0].event_time) + " to "
                    + clock(r.event_time) + ".");
            }
        }, 100);
    }

    function start() {
        const id = window.smartcityMap && window.smartcityMap.selected();
        clear();
        if (!id) {
            say("Click a vehicle first.");
            return;
        }
        run.id = id;
        const end = new Date(), begin = new Date(end.getTime() - 3600 * 1000);
        say("Reading " + id + "'s last hour from the lake\u2026");
        const url = "/api/history/vehicles/" + encodeURIComponent(id) + "/route?start="
            + encodeURIComponent(begin.toISOString()) + "&end=" + encodeURIComponent(end.toISOString());
        window.smartcityApi.call("GET", url)
            .then((body) => {
                if (run.id !== id) return;  // another replay started meanwhile
                const rows = ((body && body.rows) || []).filter((r) => r.latitude !== null);
                if (!rows.length) say("No positions of " + id + " in the lake for the last hour.");
                else play(id, rows);
            })
            .catch((e) => { if (run.id === id) say(e.apiMessage || "The lake did not answer."); });
    }

    document.addEventListener("click", (e) => {
        const target = e.target && e.target.closest ? e.target : null;
        if (!target) return;
        if (target.closest("#" + ROOT + "-go")) start();
        else if (target.closest("#" + ROOT + "-stop")) {
            const was = run.timer || run.path;
            run.id = null;
            clear();
            if (was) say("Replay stopped.");
        }
    });
})();
