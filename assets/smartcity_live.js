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

    /** The live vehicles, read like a Map of rows in the model's columns (``get(id)`` gives a
     * fresh array; ``has``, ``size``, ``forEach``, ``keys``, ``values``, ``delete``, ``clear``),
     * kept in columns: numbers in one Float64Array, text in one array, a slot per vehicle,
     * updated in place. A second's 20,000 updates then leave nothing for the page's old
     * generation (rows replaced, or numbers boxed into kept rows, were promoted every second and
     * made a ~60-100 ms full collection every 10-20 s). The map reads it by slot (``slotOf``,
     * ``ids``, ``raw``, ``str``), so its numbers reach the point layer without being boxed. */
    class VehicleTable {
        constructor(model) {
            this.model = model;
            this.slotOf = new Map();  // id -> slot
            this.ids = [];  // slot -> id
            this.cap = 0;
            this.nums = new Float64Array(0);
            this.strs = [];
            this.layout = null;  // per model column: [is a number, column index]
        }
        setup() {
            if (this.layout) return;
            const m = this.model();
            let n = 0, t = 0;
            this.layout = m.vehicle_fields.map((f, i) => {
                if (i === 0) return [false, -1];  // the id: the slot
                return m.numeric.indexOf(f) >= 0 ? [true, n++] : [false, t++];
            });
            this.nNum = n;
            this.nStr = t;
        }
        get size() { return this.ids.length; }
        has(id) { return this.slotOf.has(id); }
        slot(id) {
            let s = this.slotOf.get(id);
            if (s !== undefined) return s;
            this.setup();
            s = this.ids.length;
            if (s >= this.cap) {
                this.cap = Math.max(64, this.cap * 2);
                const nums = new Float64Array(this.cap * this.nNum);
                nums.set(this.nums);
                this.nums = nums;
            }
            this.ids.push(id);
            this.slotOf.set(id, s);
            return s;
        }
        /** Add or update a vehicle from a row in the model's columns. */
        put(row) {
            const s = this.slot(row[0]), lay = this.layout, nb = s * this.nNum, sb = s * this.nStr;
            for (let i = 1; i < lay.length; i++) {
                const v = row[i];
                if (lay[i][0]) this.nums[nb + lay[i][1]] = typeof v === "number" ? v : NaN;
                else if (this.strs[sb + lay[i][1]] !== v) this.strs[sb + lay[i][1]] = v === undefined ? null : v;
            }
        }
        /** Add or update ``count`` vehicles from a packed part (see ``frameReader``): their
         * numbers in ``nums`` (the model's numeric columns in order, NaN: none) and their id
         * and text columns as codes into ``words`` (-1: none). Nothing is allocated per row. */
        putPacked(count, nums, codes, words) {
            this.setup();
            const nN = this.nNum, nS = this.nStr, stride = 1 + nS;
            for (let k = 0; k < count; k++) {
                const s = this.slot(words[codes[k * stride]]), into = this.nums;
                for (let j = 0; j < nN; j++) into[s * nN + j] = nums[k * nN + j];
                for (let j = 0; j < nS; j++) {
                    const c = codes[k * stride + 1 + j], v = c < 0 ? null : words[c];
                    if (this.strs[s * nS + j] !== v) this.strs[s * nS + j] = v;
                }
            }
        }
        /** Where model column ``i`` sits among the numbers (or the texts). */
        column(i) { this.setup(); return this.layout[i][1]; }
        /** A number of a slot's column (model column ``i``), null when missing. */
        num(s, i) {
            const v = this.raw(s, i);
            return v === v ? v : null;  // NaN: none
        }
        /** The same as the table holds it, NaN when missing: always a number, so a caller that
         * reads many (the map, 20,000 a second) keeps them unboxed. */
        raw(s, i) { return this.nums[s * this.nNum + this.layout[i][1]]; }
        /** A text of a slot's column (model column ``i``), null when missing. */
        str(s, i) { return this.strs[s * this.nStr + this.layout[i][1]]; }
        /** A slot's row in the model's columns (a new array: for the few read at once). */
        rowAt(s) {
            const lay = this.layout, row = new Array(lay.length);
            row[0] = this.ids[s];
            for (let i = 1; i < lay.length; i++) row[i] = lay[i][0] ? this.num(s, i) : this.str(s, i);
            return row;
        }
        get(id) {
            const s = this.slotOf.get(id);
            return s === undefined ? undefined : this.rowAt(s);
        }
        /** Remove a vehicle: the last slot moves into its place. */
        delete(id) {
            const s = this.slotOf.get(id);
            if (s === undefined) return false;
            this.slotOf.delete(id);
            const last = this.ids.length - 1;
            if (s !== last) {
                const moved = this.ids[last];
                this.ids[s] = moved;
                this.slotOf.set(moved, s);
                this.nums.copyWithin(s * this.nNum, last * this.nNum, (last + 1) * this.nNum);
                for (let j = 0; j < this.nStr; j++) this.strs[s * this.nStr + j] = this.strs[last * this.nStr + j];
            }
            this.ids.pop();
            this.strs.length = last * this.nStr;
            return true;
        }
        clear() {
            this.slotOf.clear();
            this.ids = [];
            this.strs = [];
        }
        keys() { return this.ids.slice().values(); }
        *values() { for (let s = 0; s < this.ids.length; s++) yield this.rowAt(s); }
        forEach(fn) { for (let s = 0; s < this.ids.length; s++) fn(this.rowAt(s), this.ids[s], this); }
        /** Remove the vehicles whose model column ``i`` is below ``cutoff``; their ids. */
        dropBelow(i, cutoff) {
            if (!this.ids.length) return [];
            const gone = [], nums = this.nums, nN = this.nNum, at = this.layout[i][1];
            for (let s = this.ids.length - 1; s >= 0; s--) {  // backwards: a drop moves the last slot here
                const v = nums[s * nN + at];  // NaN (none) is never below
                if (v < cutoff) { gone.push(this.ids[s]); this.delete(this.ids[s]); }
            }
            return gone;
        }
    }

    let model = null;
    const city = {
        vehicles: new VehicleTable(readModel), incidents: new Map(), traffic: new Map(), weather: new Map(),
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

    // The page loads this script above its others (app/console/__init__.py): until the document
    // is parsed, the figures and the map have not listened yet, so events wait for them, in order
    // (the socket is open meanwhile: the snapshot is built, sent and read as the page loads).
    let held = document.readyState === "loading" ? [] : null;
    if (held) {
        document.addEventListener("DOMContentLoaded", () => {
            const waiting = held;
            held = null;
            waiting.forEach(([name, detail]) => emit(name, detail));
        });
    }
    function emit(name, detail) {
        if (held) { held.push([name, detail]); return; }
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
        const gone = city.vehicles.dropBelow(m.vehicle_fields.indexOf("ts"), now - m.active_ms);
        gone.forEach((id) => removed.vehicles.push(id));
        let any = gone.length > 0;
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

    /** Start applying one message: a status is taken at once (null returned); a snapshot or
     * delta returns what its rows (``addRows``, in any number of parts) and ``finish`` need. */
    function begin(msg, via) {
        const m = readModel();
        if (!m || !msg) return null;
        if (msg.type === "status") {
            conn.unreachable = msg.error ? UNREACHABLE : null;
            if (typeof msg.ts === "number") city.serverOffsetMs = msg.ts - Date.now();
            updateStatus();
            return null;
        }
        if (msg.type !== "snapshot" && msg.type !== "delta") return null;
        conn.unreachable = null;  // a message built from the speed layer: it answers
        if (typeof msg.ts === "number") city.serverOffsetMs = msg.ts - Date.now();
        const ctx = {msg: msg, via: via, snapshot: msg.type === "snapshot", changed: emptyIds(), removed: emptyIds(),
                     entities: 0, toModel: rowMapper(msg.vehicle_fields), ts: m.vehicle_fields.indexOf("ts")};
        if (ctx.snapshot) {
            KINDS.forEach((kind) => { ctx.removed[kind] = Array.from(city[kind].keys()); city[kind].clear(); });
            city.newestEventMs = null;  // the snapshot says how new the city is
        }
        return ctx;
    }

    function addRows(ctx, rows) {
        for (const raw of rows) {
            const row = ctx.toModel(raw);
            city.vehicles.put(row);
            ctx.changed.vehicles.push(row[0]);
            noteNewest(row[ctx.ts]);
            ctx.entities += 1;
        }
    }

    /** Rows packed by the frame reader (its numeric columns, and codes into ``words``). */
    function addPacked(ctx, count, nums, codes, words) {
        const table = city.vehicles;
        table.putPacked(count, nums, codes, words);
        const stride = codes.length / count, nN = nums.length / count, ts = table.column(ctx.ts);
        // the first part's ids fill an array made once at their size (not grown by copying as
        // 20,000 pushes grow it); a later part's append
        const base = ctx.changed.vehicles.length;
        if (base === 0) ctx.changed.vehicles = new Array(count);
        const changed = ctx.changed.vehicles;
        let newest = -Infinity;  // kept here: a call per row would box each time it passes
        for (let k = 0; k < count; k++) {
            changed[base + k] = words[codes[k * stride]];
            const t = nums[k * nN + ts];
            if (t > newest) newest = t;  // NaN (no time) never is
        }
        if (newest > -Infinity) noteNewest(newest);
        ctx.entities += count;
    }

    /** The message's other entities, then announce what changed. */
    function finish(ctx) {
        const msg = ctx.msg, changed = ctx.changed, removed = ctx.removed;
        ["incidents", "traffic", "weather"].forEach((kind) => {
            (msg[kind] || []).forEach((e) => {
                ctx.entities += 1;
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
        if (ctx.snapshot) {  // what the snapshot holds again was not removed
            KINDS.forEach((kind) => { removed[kind] = removed[kind].filter((id) => !city[kind].has(id)); });
        } else if (ctx.entities === 0 && ctx.via === "push") {
            conn.heartbeat = true;  // this hub beats: a silent socket is a broken one
        }
        prune(removed);
        api.messages += 1;
        emit("live", {message: msg, city: city, changed: changed, removed: removed, snapshot: ctx.snapshot});
        updateStatus();
    }

    /** Apply one whole message (a status, a snapshot or a delta) to `city` and announce it. */
    function onMessage(msg, via) {
        const ctx = begin(msg, via);
        if (!ctx) return;
        addRows(ctx, msg.vehicles || []);
        finish(ctx);
    }

    // --- reading gzip frames, off the page's thread -----------------------------------------
    /** The worker's code. It is given the model's columns once ({model}); then for each frame
     * ({n, blob}) it inflates and parses it, and hands it over as: the message without its
     * vehicle rows ({n, head}); the rows in packed parts of ``ROWS`` ({n, count, nums, codes,
     * words}: the numeric columns in a Float64Array, moved not copied; the id and text columns
     * as codes into a list of words, of which each part carries only those new to the page);
     * and the end ({n, end}). */
    function frameReader() {
        const ROWS = 5000;
        let fields = null, numeric = null;
        const codeOf = new Map();  // word -> code, as the page knows them
        const spare = [];  // buffers the page gave back, filled again for the next parts
        function take(kind, n) {
            const bytes = n * kind.BYTES_PER_ELEMENT, i = spare.findIndex((b) => b.byteLength >= bytes);
            return i >= 0 ? new kind(spare.splice(i, 1)[0], 0, n) : new kind(n);
        }
        self.onmessage = (e) => {
            if (e.data.spare) { if (spare.length < 16) spare.push(...e.data.spare); return; }
            if (e.data.model) {
                fields = e.data.model.vehicle_fields;
                numeric = new Set(e.data.model.numeric);
                return;
            }
            const n = e.data.n;
            new Response(e.data.blob.stream().pipeThrough(new DecompressionStream("gzip"))).text().then((text) => {
                const msg = JSON.parse(text);
                const rows = Array.isArray(msg.vehicles) ? msg.vehicles : [];
                const own = msg.vehicle_fields || fields;  // a message names its own columns
                delete msg.vehicles;
                self.postMessage({n: n, head: msg});
                const numAt = [], textAt = [own.indexOf(fields[0])];  // the id, then the text columns
                fields.forEach((f, i) => { if (i > 0) (numeric.has(f) ? numAt : textAt).push(own.indexOf(f)); });
                for (let start = 0; start < rows.length; start += ROWS) {
                    const count = Math.min(ROWS, rows.length - start);
                    const nums = take(Float64Array, count * numAt.length);
                    const codes = take(Int32Array, count * textAt.length);
                    const words = [];
                    for (let k = 0; k < count; k++) {
                        const row = rows[start + k];
                        numAt.forEach((at, j) => {
                            const v = at >= 0 ? row[at] : null;
                            nums[k * numAt.length + j] = typeof v === "number" ? v : NaN;
                        });
                        textAt.forEach((at, j) => {
                            const v = at >= 0 ? row[at] : null;
                            let c = -1;
                            if (v !== null && v !== undefined) {
                                c = codeOf.get(v);
                                if (c === undefined) { c = codeOf.size; codeOf.set(v, c); words.push(v); }
                            }
                            codes[k * textAt.length + j] = c;
                        });
                    }
                    self.postMessage({n: n, count: count, nums: nums, codes: codes, words: words},
                                     [nums.buffer, codes.buffer]);
                }
                self.postMessage({n: n, end: true});
            }).catch((err) => self.postMessage({n: n, error: String(err)}));
        };
    }

    /** Gzip frames are read in a worker: a whole city's frame (2 MB of JSON each second at
     * 20,000 vehicles) is then never one string, nor one object graph, on the page's heap. Both
     * were too big to die young there: promoted each second, they made the page stop for a
     * ~60-100 ms full collection every ~20 s. The page takes the rows in parts of 1,000, each
     * its own task, and updates its rows in place; the parts die young. Where no worker can be
     * made, frames are read here, whole. ``read(blob, sink)`` calls sink.head(msg) (false:
     * skip the rest), sink.rows(rows) for each part, sink.end(); it resolves after the end. */
    const frames = (function () {
        const jobs = new Map();  // frame number -> what to do with its parts
        const words = [];  // code -> word, as the worker sent them
        let worker = null, next = 0, told = false;
        function inflateHere(blob, sink) {
            return new Response(blob.stream().pipeThrough(new DecompressionStream("gzip"))).text().then((text) => {
                const msg = JSON.parse(text);
                const rows = msg.vehicles || [];
                delete msg.vehicles;
                if (sink.head(msg) !== false) { sink.rows(rows); sink.end(); }
            });
        }
        try {
            const code = "(" + frameReader.toString() + ")()";
            worker = new Worker(URL.createObjectURL(new Blob([code], {type: "text/javascript"})));
        } catch (e) {
            worker = null;
        }
        if (worker) {
            worker.onmessage = (e) => {
                const d = e.data, job = jobs.get(d.n);
                if (!job) return;
                try {
                    if (d.error) throw new Error(d.error);
                    if (d.head) { job.started = true; job.skip = job.sink.head(d.head) === false; }
                    else if (d.count !== undefined) {
                        for (const w of d.words) words.push(w);  // kept even when the part is skipped
                        if (!job.skip) job.sink.packed(d.count, d.nums, d.codes, words);
                        worker.postMessage({spare: [d.nums.buffer, d.codes.buffer]}, [d.nums.buffer, d.codes.buffer]);
                    }
                    else if (d.end) {
                        jobs.delete(d.n);
                        if (!job.skip) job.sink.end();
                        job.resolve();
                    }
                } catch (err) {
                    jobs.delete(d.n);
                    job.reject(err);
                }
            };
            worker.onerror = () => {  // a worker that cannot run: read its frames here (one half
                worker = null;        // applied is not applied twice: it is skipped)
                jobs.forEach((j) => {
                    if (j.started) j.reject(new Error("the frame reader stopped"));
                    else inflateHere(j.blob, j.sink).then(j.resolve, j.reject);
                });
                jobs.clear();
            };
        }
        return {
            read(blob, sink) {
                if (!worker) return inflateHere(blob, sink);
                if (!told) { worker.postMessage({model: readModel()}); told = true; }
                return new Promise((resolve, reject) => {
                    const n = next++;
                    jobs.set(n, {blob: blob, sink: sink, started: false, skip: false, resolve: resolve, reject: reject});
                    worker.postMessage({n: n, blob: blob});
                });
            },
            get inWorker() { return !!worker; },
        };
    })();

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
        let inOrder = Promise.resolve();  // reading is asynchronous: one frame at a time, in order
        function opened() {  // the first message: push is live
            if (conn.open) return;
            conn.open = true;
            conn.attempt = 0;
            conn.everConnected = true;
            stopPoll();
        }
        ws.onmessage = (event) => {
            conn.lastMessageAt = Date.now();
            const data = event.data;
            let ctx = null;
            const sink = {
                head(msg) {
                    if (conn.socket !== ws) return false;
                    opened();
                    ctx = begin(msg, "push");
                    return ctx !== null;
                },
                rows(rows) { addRows(ctx, rows); },
                packed(count, nums, codes, words) { addPacked(ctx, count, nums, codes, words); },
                end() { finish(ctx); },
            };
            inOrder = inOrder.then(() => {
                if (typeof data !== "string") return frames.read(data, sink);
                const msg = JSON.parse(data);
                if (sink.head(msg)) { sink.rows(msg.vehicles || []); sink.end(); }
                return undefined;
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
        get framesInWorker() { return frames.inWorker; },
    };
    window.smartcityLive = api;

    function start() {
        if (!readModel()) return;  // a page without the model (login): no live client
        openSocket();
        updateStatus(true);
        setInterval(everySecond, 1000);
    }
    // the page's config object sits above this script: connect now (events are held, above)
    if (readModel() || document.readyState !== "loading") start();
    else document.addEventListener("DOMContentLoaded", start);
})();
