/* The map's search box (app/console/map.py): Enter or "Find" asks GET /api/find for vehicles
 * whose id, licence plate or road matches; the best match is selected and flown to
 * (window.smartcityMap.focus), the others are listed to pick with the mouse or the keyboard.
 * Every text shown comes from devices: built with textContent only. */
(function () {
    "use strict";

    const BOX = "map-find", RESULTS = "map-find-results";  // app/console/ids.py MAP_FIND, MAP_FIND_RESULTS

    function say(text) {
        const out = document.getElementById(RESULTS);
        if (out) out.textContent = text;
        return out;
    }

    function label(v) {
        const parts = [v.id];
        if (v.plate) parts.push(v.plate);
        if (v.road_name) parts.push(v.road_name);
        return parts.join(" · ");
    }

    function show(found, query) {
        const out = say("");
        if (!out) return;
        if (!found.length) {
            out.textContent = "No active vehicle matches \u201c" + query + "\u201d.";
            return;
        }
        const list = document.createElement("div");
        list.className = "list-group list-group-flush";
        found.forEach((v, i) => {
            const b = document.createElement("button");
            b.type = "button";
            b.className = "list-group-item list-group-item-action py-1 px-2" + (i === 0 ? " active" : "");
            b.textContent = label(v);
            b.title = "matched by " + v.match;
            b.addEventListener("click", () => {
                list.querySelectorAll(".active").forEach((el) => el.classList.remove("active"));
                b.classList.add("active");
                go(v);
            });
            list.appendChild(b);
        });
        out.appendChild(list);
    }

    function go(v) {
        const map = window.smartcityMap;
        if (map) map.focus(v.id, [v.lat, v.lon]);
    }

    function find() {
        const box = document.getElementById(BOX);
        const query = box ? box.value.trim() : "";
        if (!query) return;
        say("Searching\u2026");
        window.smartcityApi.call("GET", "/api/find?limit=8&q=" + encodeURIComponent(query))
            .then((body) => {
                const found = (body && body.vehicles) || [];
                show(found, query);
                if (found.length) go(found[0]);
            })
            .catch((e) => say(e.status ? e.apiMessage || "The search failed."
                : "The search failed: the server did not answer."));
    }

    document.addEventListener("keydown", (e) => {
        if (e.target && e.target.id === BOX && e.key === "Enter") {
            e.preventDefault();
            find();
        }
    });
    document.addEventListener("click", (e) => {
        if (e.target && e.target.closest && e.target.closest("#" + BOX + "-go")) find();
    });
})();
