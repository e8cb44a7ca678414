/* A vehicle's status in words: "online — moving", "online — parked", "offline (last seen 3 min
 * ago)". Decided here only, where the live city is: the map's tooltip, its clusters' counts and
 * the vehicle panel's Status row all take it from here (assets/smartcity_map.js hands it to each).
 * The rules' figures (the active window, the statuses that mean parked, how long standing still
 * counts as parked) are the live read model's (pipeline/live_model.py VEHICLE_STATES), read from
 * the page's model object; nothing here re-declares them. No DOM, no Leaflet: a plain function. */
(function () {
    "use strict";

    const STATES = ["moving", "parked", "offline"];  // a cluster's ring and counts, in this order

    /** "45 s ago", "3 min ago", "5 h ago", "2 days ago". */
    function ago(ms) {
        const s = Math.max(0, ms) / 1000;
        if (s < 60) return Math.floor(s) + " s ago";
        if (s < 3600) return Math.floor(s / 60) + " min ago";
        if (s < 48 * 3600) return Math.floor(s / 3600) + " h ago";
        return Math.floor(s / 86400) + " days ago";
    }

    /** Whether a speed (km/h) counts as standing still. */
    function isStill(speed, model) { return !(Number(speed) >= model.vehicle_states.still_kmh); }

    /** "moving", "parked" or "offline": a vehicle whose last report (``ts``, ms) is older than
     * the model's offline_after_ms at ``nowMs`` (the city's clock, event time; null: unknown) is
     * offline (it leaves the map at the end of the active window); one whose ``status`` is a parked one, or that has stood still (under still_kmh)
     * since ``stillSince`` (ms; null: moving, or not known) for parked_after_ms, is parked; any
     * other is moving. One call per vehicle update: no allocation. */
    function vehicleState(status, speed, ts, stillSince, nowMs, model) {
        const rules = model.vehicle_states;
        if (ts === null || ts === undefined || !isFinite(ts)) return "offline";
        if (nowMs !== null && nowMs !== undefined && nowMs - ts > rules.offline_after_ms) return "offline";
        if (status && rules.parked_statuses.indexOf(status) >= 0) return "parked";
        const still = isStill(speed, model);
        const now = nowMs === null || nowMs === undefined ? ts : nowMs;
        if (still && stillSince !== null && stillSince !== undefined && now - stillSince >= rules.parked_after_ms) {
            return "parked";
        }
        return "moving";
    }

    /** {state, text} of a vehicle (arguments as vehicleState): the text is what the operator
     * reads; a duty the device reports (an emergency unit "responding") follows in brackets. */
    function vehicleStatus(status, speed, ts, stillSince, nowMs, model) {
        const state = vehicleState(status, speed, ts, stillSince, nowMs, model);
        if (state === "offline") {
            const known = ts !== null && ts !== undefined && isFinite(ts) && nowMs !== null && nowMs !== undefined;
            return {state: state, text: known ? "offline (last seen " + ago(nowMs - ts) + ")" : "offline"};
        }
        const duty = status && model.vehicle_states.motion_statuses.indexOf(status) < 0
            ? " (" + String(status).replace(/_/g, " ") + ")" : "";
        return {state: state, text: "online — " + state + duty};
    }

    window.smartcityStatus = {STATES: STATES, isStill: isStill, vehicleState: vehicleState, vehicleStatus: vehicleStatus, ago: ago};
})();
