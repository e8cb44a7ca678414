/* The map's point layer, without Leaflet or the live city: layers of points kept by id in typed
 * arrays (PointSet), drawn on one canvas with one WebGL draw call each (GLPoints) or, where WebGL
 * is software, pixel by pixel into one Canvas 2D image (CanvasPoints); webglInfo() tells which.
 * assets/smartcity_map.js puts the live city on the map with it; the browser benchmark's bare
 * reference page runs this file alone.
 *
 * Why WebGL, and this small layer rather than a library: 20,000 vehicles moving each second
 * cost a typed-array write per vehicle and one buffer upload here, where a canvas redraws every
 * circle (10,000 canvas markers stalled the page up to 0.7 s); leaflet.glify rebuilds its
 * buffers from the whole data set on each update, deck.gl brings a view controller of its own
 * beside Leaflet's, and MapLibre would replace Leaflet and the roads layer. */
(function () {
    "use strict";

    const TILE = 256;  // Web Mercator: the world is TILE px wide at zoom 0
    const CELL = 64 / 16384;  // grid cell in zoom-0 px: 64 screen px at zoom 14 (~370 m in Berlin)

    /** Zoom-0 Web Mercator pixel of a position (as Leaflet's EPSG:3857 projects it). */
    function mercX(lon) { return TILE * (0.5 + lon / 360); }
    function mercY(lat) {
        const s = Math.sin(Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI / 180);
        return TILE * (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI));
    }

    const rgbaCache = new Map();
    /** "#rrggbb" as [r, g, b, 255]. */
    function rgba(hex) {
        let c = rgbaCache.get(hex);
        if (!c) {
            const n = parseInt(String(hex || "#777777").slice(1), 16) || 0x777777;
            c = [(n >> 16) & 255, (n >> 8) & 255, n & 255, 235];
            rgbaCache.set(hex, c);
        }
        return c;
    }

    /** One layer of points by id: positions and colours in typed arrays (what WebGL draws),
     * updated in place by id; a grid of zoom-0 cells -> slots for picking, rebuilt from the
     * arrays only when the mouse asks after a change (a second's 20,000 moves cost no grid work). */
    class PointSet {
        constructor(look) {
            this.look = look;
            this.slotOf = new Map();  // id -> slot
            this.ids = [];  // slot -> id
            this.cap = 0;
            this.xy = new Float64Array(0);  // zoom-0 px, exact (picking, tooltips)
            this.pos = new Float32Array(0);  // the same relative to the origin (drawn)
            this.col = new Uint8Array(0);
            this.head = new Float32Array(0);  // heading, radians clockwise from north; -1: none
            this.tag = new Uint8Array(0);  // a small number the caller keeps per point (a vehicle's status), not drawn
            this.grid = null;  // cell key -> [slots]; null when a point changed since it was built
            this.visible = true;
            this.dirty = true;
        }
        get size() { return this.ids.length; }
        grow(n) {
            if (n <= this.cap) return;
            this.cap = Math.max(n, this.cap * 2, 64);
            const xy = new Float64Array(this.cap * 2), pos = new Float32Array(this.cap * 2);
            const col = new Uint8Array(this.cap * 4), head = new Float32Array(this.cap), tag = new Uint8Array(this.cap);
            xy.set(this.xy);
            pos.set(this.pos);
            col.set(this.col);
            head.set(this.head);
            tag.set(this.tag);
            this.xy = xy;
            this.pos = pos;
            this.col = col;
            this.head = head;
            this.tag = tag;
        }
        /** Add or move a point; its slot. ``at``: a Float64Array the caller reuses, [x, y,
         * heading]: (x, y) in zoom-0 px, drawn relative to the shared origin; the heading in
         * degrees clockwise from north (NaN: none, no arrow). Numbers passed in an array, not as
         * arguments: a call that is not inlined boxes each double argument, and the map moves
         * 20,000 points a second. The point's ``tag`` is the caller's to set (``tag[slot]``). */
        put(id, at, colour, origin) {
            let s = this.slotOf.get(id);
            if (s === undefined) {
                this.grow(this.ids.length + 1);
                s = this.ids.length;
                this.ids.push(id);
                this.slotOf.set(id, s);
            }
            const x = at[0], y = at[1], heading = at[2];
            this.xy[2 * s] = x;
            this.xy[2 * s + 1] = y;
            this.pos[2 * s] = x - origin[0];
            this.pos[2 * s + 1] = y - origin[1];
            this.col[4 * s] = colour[0];
            this.col[4 * s + 1] = colour[1];
            this.col[4 * s + 2] = colour[2];
            this.col[4 * s + 3] = colour[3];
            this.head[s] = isFinite(heading) ? (heading % 360 + 360) % 360 * Math.PI / 180 : -1;
            this.dirty = true;
            this.grid = null;
            return s;
        }
        /** Remove a point: the last slot moves into its place. */
        drop(id) {
            const s = this.slotOf.get(id);
            if (s === undefined) return;
            this.slotOf.delete(id);
            const last = this.ids.length - 1;
            if (s !== last) {
                const moved = this.ids[last];
                this.ids[s] = moved;
                this.slotOf.set(moved, s);
                this.xy.copyWithin(2 * s, 2 * last, 2 * last + 2);
                this.pos.copyWithin(2 * s, 2 * last, 2 * last + 2);
                this.col.copyWithin(4 * s, 4 * last, 4 * last + 4);
                this.head[s] = this.head[last];
                this.tag[s] = this.tag[last];
            }
            this.ids.pop();
            this.dirty = true;
            this.grid = null;
        }
        clear() {
            this.slotOf.clear();
            this.ids.length = 0;
            this.dirty = true;
            this.grid = null;
        }
        has(id) { return this.slotOf.has(id); }
        /** {x, y} in zoom-0 px of a point, or null. */
        point(id) {
            const s = this.slotOf.get(id);
            return s === undefined ? null : {x: this.xy[2 * s], y: this.xy[2 * s + 1], slot: s};
        }
        cells() {
            if (this.grid) return this.grid;
            const grid = new Map();
            for (let s = 0; s < this.ids.length; s++) {
                const key = Math.floor(this.xy[2 * s] / CELL) * 1e7 + Math.floor(this.xy[2 * s + 1] / CELL);
                const slots = grid.get(key);
                if (slots) slots.push(s);
                else grid.set(key, [s]);
            }
            return (this.grid = grid);
        }
        /** The id nearest (wx, wy) within rw (zoom-0 px), with its squared distance, or null. */
        nearest(wx, wy, rw) {
            let best = -1, bestD = rw * rw;
            const xy = this.xy;
            const consider = (s) => {
                const d = (xy[2 * s] - wx) ** 2 + (xy[2 * s + 1] - wy) ** 2;
                if (d <= bestD) { bestD = d; best = s; }
            };
            const grid = this.cells();
            const x0 = Math.floor((wx - rw) / CELL), x1 = Math.floor((wx + rw) / CELL);
            const y0 = Math.floor((wy - rw) / CELL), y1 = Math.floor((wy + rw) / CELL);
            if ((x1 - x0 + 1) * (y1 - y0 + 1) > grid.size) {  // zoomed far out: fewer cells than the box
                for (let s = 0; s < this.ids.length; s++) consider(s);
            } else {
                for (let cx = x0; cx <= x1; cx++) {
                    for (let cy = y0; cy <= y1; cy++) {
                        const slots = grid.get(cx * 1e7 + cy);
                        if (slots) slots.forEach(consider);
                    }
                }
            }
            return best < 0 ? null : {id: this.ids[best], d2: bestD};
        }
    }

    // an arrow inside the disc, in the disc's own coordinates (-0.5..0.5, y down, pointing north
    // before it is turned by the heading): tip, base and half width
    const ARROW = {tip: -0.36, base: 0.24, half: 0.22};
    /** The diameter (CSS px) a layer's points are drawn at in this view: larger where arrows show. */
    function sizeOf(look, view) {
        return view.arrows && look.arrows ? look.arrows : look.size;
    }

    const VERTEX = "attribute vec2 a_pos; attribute vec4 a_col; attribute float a_head; varying float v_head;"
        + "uniform vec2 u_shift; uniform float u_scale; uniform vec2 u_size; uniform mediump float u_point;"
        + "varying vec4 v_col;"
        + "void main() { vec2 s = a_pos * u_scale - u_shift;"
        + "  gl_Position = vec4(s.x / u_size.x * 2.0 - 1.0, 1.0 - s.y / u_size.y * 2.0, 0.0, 1.0);"
        + "  gl_PointSize = u_point; v_col = a_col; v_head = a_head; }";
    const FRAGMENT = "precision mediump float; varying vec4 v_col; varying float v_head;"
        + "uniform float u_point; uniform float u_stroke; uniform vec4 u_strokeColour; uniform float u_grey;"
        + "uniform float u_arrows;"
        + "void main() { float r = u_point * 0.5; float d = length(gl_PointCoord - 0.5) * u_point;"
        + "  if (d > r) discard;"
        + "  vec4 c = (u_stroke > 0.0 && d > r - u_stroke) ? u_strokeColour : v_col;"
        + "  if (u_arrows > 0.0 && v_head >= 0.0) {"
        + "    vec2 p = gl_PointCoord - 0.5; float cs = cos(v_head), sn = sin(v_head);"
        + "    vec2 q = vec2(p.x * cs + p.y * sn, -p.x * sn + p.y * cs);"  // turned back to north
        + "    float t = (q.y - " + ARROW.tip.toFixed(3) + ") / " + (ARROW.base - ARROW.tip).toFixed(3) + ";"
        + "    if (t >= 0.0 && t <= 1.0 && abs(q.x) <= t * " + ARROW.half.toFixed(3) + ") c = vec4(1.0, 1.0, 1.0, 1.0); }"
        + "  float g = dot(c.rgb, vec3(0.299, 0.587, 0.114));"
        + "  c.rgb = mix(c.rgb, vec3(g), u_grey); c.a *= mix(1.0, 0.45, u_grey);"
        + "  c.a *= clamp(r - d + 0.5, 0.0, 1.0);"  // a smooth edge
        + "  gl_FragColor = vec4(c.rgb * c.a, c.a); }";

    /** Draws PointSets on one canvas with WebGL (no Leaflet in here: the bare benchmark page
     * uses it alone). */
    class GLPoints {
        constructor(canvas) {
            this.canvas = canvas;
            const gl = canvas.getContext("webgl", {antialias: false, alpha: true, premultipliedAlpha: true});
            if (!gl) throw new Error("WebGL is not available");
            this.gl = gl;
            const program = gl.createProgram();
            [[gl.VERTEX_SHADER, VERTEX], [gl.FRAGMENT_SHADER, FRAGMENT]].forEach(([kind, src]) => {
                const sh = gl.createShader(kind);
                gl.shaderSource(sh, src);
                gl.compileShader(sh);
                if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(sh));
                gl.attachShader(program, sh);
            });
            gl.linkProgram(program);  // a uniform of both shaders needs one precision in both, or this fails
            if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
            gl.useProgram(program);
            this.program = program;
            this.loc = {};
            ["a_pos", "a_col", "a_head"].forEach((n) => { this.loc[n] = gl.getAttribLocation(program, n); });
            ["u_shift", "u_scale", "u_size", "u_point", "u_stroke", "u_strokeColour", "u_grey", "u_arrows"].forEach((n) => {
                this.loc[n] = gl.getUniformLocation(program, n);
            });
            gl.enableVertexAttribArray(this.loc.a_pos);
            gl.enableVertexAttribArray(this.loc.a_col);
            gl.enableVertexAttribArray(this.loc.a_head);
            gl.enable(gl.BLEND);
            gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
            this.buffers = new Map();  // PointSet -> {pos, col}
        }
        /** Draw ``sets`` in order. view: {width, height (CSS px), scale (2^zoom), shift: [x, y]
         * (the view's top-left in px at that scale, relative to the origin), grey (0..1)}. */
        draw(sets, view) {
            const gl = this.gl, dpr = window.devicePixelRatio || 1;
            const w = Math.max(1, Math.round(view.width * dpr)), h = Math.max(1, Math.round(view.height * dpr));
            if (this.canvas.width !== w || this.canvas.height !== h) {
                this.canvas.width = w;
                this.canvas.height = h;
            }
            gl.viewport(0, 0, w, h);
            gl.clearColor(0, 0, 0, 0);
            gl.clear(gl.COLOR_BUFFER_BIT);
            gl.uniform2f(this.loc.u_shift, view.shift[0], view.shift[1]);
            gl.uniform1f(this.loc.u_scale, view.scale);
            gl.uniform2f(this.loc.u_size, view.width, view.height);
            gl.uniform1f(this.loc.u_grey, view.grey || 0);
            sets.forEach((set) => {
                if (!set.visible || !set.size) return;
                let b = this.buffers.get(set);
                if (!b) {
                    b = {pos: gl.createBuffer(), col: gl.createBuffer(), head: gl.createBuffer()};
                    this.buffers.set(set, b);
                    set.dirty = true;
                }
                gl.bindBuffer(gl.ARRAY_BUFFER, b.pos);
                if (set.dirty) gl.bufferData(gl.ARRAY_BUFFER, set.pos.subarray(0, set.size * 2), gl.DYNAMIC_DRAW);
                gl.vertexAttribPointer(this.loc.a_pos, 2, gl.FLOAT, false, 0, 0);
                gl.bindBuffer(gl.ARRAY_BUFFER, b.col);
                if (set.dirty) gl.bufferData(gl.ARRAY_BUFFER, set.col.subarray(0, set.size * 4), gl.DYNAMIC_DRAW);
                gl.vertexAttribPointer(this.loc.a_col, 4, gl.UNSIGNED_BYTE, true, 0, 0);
                gl.bindBuffer(gl.ARRAY_BUFFER, b.head);
                if (set.dirty) gl.bufferData(gl.ARRAY_BUFFER, set.head.subarray(0, set.size), gl.DYNAMIC_DRAW);
                gl.vertexAttribPointer(this.loc.a_head, 1, gl.FLOAT, false, 0, 0);
                set.dirty = false;
                const look = set.look, sc = rgba(look.strokeColour);
                gl.uniform1f(this.loc.u_point, sizeOf(look, view) * dpr);
                gl.uniform1f(this.loc.u_arrows, view.arrows && look.arrows ? 1 : 0);
                gl.uniform1f(this.loc.u_stroke, look.stroke * dpr);
                gl.uniform4f(this.loc.u_strokeColour, sc[0] / 255, sc[1] / 255, sc[2] / 255, 1);
                gl.drawArrays(gl.POINTS, 0, set.size);
            });
        }
    }

    const HEADINGS = 16;  // Canvas 2D arrows are drawn turned to the nearest of this many headings

    /** A disc of ``size`` px as pixel offsets from its centre, with each pixel's coverage (the
     * edge smoothed) and whether it is the stroke; and, per heading bucket, which of its pixels
     * are the arrow (ARROW, as the WebGL shader draws it). */
    function discMask(size, strokePx, dpr) {
        const r = size * dpr / 2, stroke = strokePx * dpr, R = Math.ceil(r + 0.5);
        const dx = [], dy = [], cov = [], ring = [];
        for (let y = -R; y <= R; y++) {
            for (let x = -R; x <= R; x++) {
                const d = Math.hypot(x, y), c = Math.min(1, r + 0.5 - d);
                if (c <= 0) continue;
                dx.push(x);
                dy.push(y);
                cov.push(c);
                ring.push(stroke > 0 && d > r - stroke ? 1 : 0);
            }
        }
        const arrows = [];
        for (let b = 0; b < HEADINGS; b++) {
            const a = b * 2 * Math.PI / HEADINGS, cs = Math.cos(a), sn = Math.sin(a), inside = [];
            dx.forEach((x, k) => {
                const px = x / (2 * r), py = dy[k] / (2 * r);  // the disc's own coordinates, -0.5..0.5
                const qx = px * cs + py * sn, qy = -px * sn + py * cs;
                const t = (qy - ARROW.tip) / (ARROW.base - ARROW.tip);
                if (t >= 0 && t <= 1 && Math.abs(qx) <= t * ARROW.half) inside.push(k);
            });
            arrows.push(Int32Array.from(inside));
        }
        return {R: R, dx: Int16Array.from(dx), dy: Int16Array.from(dy), cov: Float32Array.from(cov),
            ring: Uint8Array.from(ring), arrows: arrows};
    }

    /** Draws PointSets into one ImageData, pixel by pixel, and puts it on a 2D canvas: the same
     * arrays and the same draw(sets, view) as GLPoints, for browsers whose WebGL is software
     * (see ``pointRenderer``). A frame costs a clear, ~80 pixel writes per visible point and one
     * putImageData; no WebGL read-back. */
    class CanvasPoints {
        constructor(canvas) {
            this.canvas = canvas;
            this.ctx = canvas.getContext("2d");
            if (!this.ctx) throw new Error("no 2D canvas");
            this.image = null;
            this.masks = new Map();  // "size/stroke" -> discMask at the current dpr
            this.dpr = 0;
        }
        draw(sets, view) {
            const dpr = view.dpr || self.devicePixelRatio || 1;
            const w = Math.max(1, Math.round(view.width * dpr)), h = Math.max(1, Math.round(view.height * dpr));
            if (!this.image || this.image.width !== w || this.image.height !== h || this.dpr !== dpr) {
                this.canvas.width = w;
                this.canvas.height = h;
                this.image = this.ctx.createImageData(w, h);
                this.masks.clear();
                this.dpr = dpr;
            }
            const bytes = this.image.data, words = new Uint32Array(bytes.buffer);
            words.fill(0);
            const grey = !!view.grey, sc = view.scale * dpr, sx = view.shift[0] * dpr, sy = view.shift[1] * dpr;
            const fade = grey ? 0.45 : 1, rgb = [0, 0, 0];
            const tone = (r, g, b) => {  // as the WebGL shader: grey and faded when the data is stale
                if (grey) r = g = b = 0.299 * r + 0.587 * g + 0.114 * b;
                rgb[0] = r;
                rgb[1] = g;
                rgb[2] = b;
                return rgb;
            };
            /** One pixel of colour (r, g, b) at opacity a over what is there ("over", unpremultiplied). */
            const blend = (i, r, g, b, a) => {
                const j = 4 * i, da = bytes[j + 3] / 255;
                if (da === 0) {
                    words[i] = ((a * 255) << 24 | b << 16 | g << 8 | r) >>> 0;
                    return;
                }
                const keep = da * (1 - a), out = a + keep;
                bytes[j] = (r * a + bytes[j] * keep) / out;
                bytes[j + 1] = (g * a + bytes[j + 1] * keep) / out;
                bytes[j + 2] = (b * a + bytes[j + 2] * keep) / out;
                bytes[j + 3] = out * 255;
            };
            sets.forEach((set) => {
                if (!set.visible || !set.size) return;
                const look = set.look, size = sizeOf(look, view), key = size + "/" + look.stroke;
                let m = this.masks.get(key);
                if (!m) this.masks.set(key, (m = discMask(size, look.stroke, dpr)));
                const arrows = view.arrows && look.arrows, head = set.head, white = 0xffffffff;
                const {R, dx, dy, cov, ring} = m, n = dx.length, pos = set.pos, col = set.col;
                if (m.width !== w) {  // pixel index offsets at this width; the disc's solid interior apart
                    m.width = w;
                    m.off = Int32Array.from(dx, (x, k) => dy[k] * w + x);
                    m.solid = Uint8Array.from(cov, (c, k) => (c >= 1 && !ring[k] ? 1 : 0));
                }
                const off = m.off, solid = m.solid;
                const sr = rgba(look.strokeColour), stroke = tone(sr[0], sr[1], sr[2]).slice();
                for (let s = 0; s < set.size; s++) {
                    const cx = Math.round(pos[2 * s] * sc - sx), cy = Math.round(pos[2 * s + 1] * sc - sy);
                    if (cx < -R || cy < -R || cx >= w + R || cy >= h + R) continue;
                    const [fr, fg, fb] = tone(col[4 * s], col[4 * s + 1], col[4 * s + 2]);
                    const alpha = col[4 * s + 3] / 255 * fade;
                    const packed = ((alpha * 255) << 24 | fb << 16 | fg << 8 | fr) >>> 0;
                    const inside = cx >= R && cy >= R && cx < w - R && cy < h - R, centre = cy * w + cx;
                    for (let k = 0; k < n; k++) {
                        let i;
                        if (inside) {
                            i = centre + off[k];
                        } else {
                            const px = cx + dx[k], py = cy + dy[k];
                            if (px < 0 || py < 0 || px >= w || py >= h) continue;
                            i = py * w + px;
                        }
                        if (ring[k]) blend(i, stroke[0], stroke[1], stroke[2], cov[k] * fade);
                        else if (alpha === 0) continue;  // no fill (the selection's ring): what is below shows
                        else if (solid[k]) words[i] = packed;  // most pixels: one write (a point hides the ones below)
                        else blend(i, fr, fg, fb, cov[k] * alpha);
                    }
                    if (arrows && head[s] >= 0 && inside) {  // white, turned to the nearest bucket
                        const cells = m.arrows[Math.round(head[s] / (2 * Math.PI) * HEADINGS) % HEADINGS];
                        for (let a = 0; a < cells.length; a++) words[centre + off[cells[a]]] = white;
                    }
                }
                set.dirty = false;
            });
            this.ctx.putImageData(this.image, 0, 0);
        }
    }

    /** The worker's code around CanvasPoints: it is given the OffscreenCanvas once, then frames
     * ({id, sets, view}); it draws only the newest frame waiting and says which it drew. */
    function painter() {
        let points = null, latest = null, waiting = false;
        const buffers = (frame) => [].concat(...frame.sets.map((p) => [p.pos.buffer, p.col.buffer, p.head.buffer]));
        function paint() {
            waiting = false;
            const frame = latest;
            latest = null;
            if (!frame || !points) return;
            points.draw(frame.sets, frame.view);
            const back = buffers(frame);
            self.postMessage({drawn: frame.id, buffers: back}, back);  // the page fills them again
        }
        self.onmessage = (e) => {
            if (e.data.canvas) { points = new CanvasPoints(e.data.canvas); return; }
            if (latest) {  // a frame not yet drawn is replaced by a newer one; its arrays go back
                const back = buffers(latest);
                self.postMessage({drawn: -1, buffers: back}, back);
            }
            latest = e.data;
            if (!waiting) { waiting = true; setTimeout(paint, 0); }
        };
    }

    /** CanvasPoints run in a worker on the canvas's OffscreenCanvas: the page's thread only copies
     * the points' arrays across (~0.5 MB a frame at 20,000) and places the canvas when the frame
     * it drew is shown; rasterising, putImageData and the canvas's commit are off it (they were
     * ~30 ms of every second at 20,000 moving vehicles). ``draw(sets, view, shown)`` calls
     * ``shown()`` once that frame is drawn (a frame replaced by a newer one never is). */
    class WorkerPoints {
        constructor(canvas) {
            if (typeof Worker === "undefined" || !canvas.transferControlToOffscreen) throw new Error("no OffscreenCanvas");
            const code = ["const ARROW = " + JSON.stringify(ARROW) + ", HEADINGS = " + HEADINGS + ";",
                "const rgbaCache = new Map();", rgba, sizeOf, discMask, CanvasPoints, "(" + painter + ")();"].join("\n");
            this.worker = new Worker(URL.createObjectURL(new Blob([code], {type: "text/javascript"})));
            const offscreen = canvas.transferControlToOffscreen();  // the worker exists: the canvas is its
            this.worker.postMessage({canvas: offscreen}, [offscreen]);
            this.next = 0;
            this.shown = new Map();  // frame id -> what to do when it is shown
            this.spare = [];  // buffers the worker gave back, filled again for the next frames
            this.worker.onmessage = (e) => {
                if (this.spare.length < 24) this.spare.push(...e.data.buffers);
                const id = e.data.drawn, then = this.shown.get(id);
                if (id < 0) return;
                this.shown.forEach((_, k) => { if (k <= id) this.shown.delete(k); });
                if (then) then();
            };
        }
        /** A copy of ``array``'s first ``n`` items, in a spare buffer when one is big enough (a
         * frame's arrays go to the worker and come back: no new memory each frame). */
        copy(array, n) {
            const bytes = n * array.BYTES_PER_ELEMENT;
            const i = this.spare.findIndex((b) => b.byteLength >= bytes);
            const buffer = i >= 0 ? this.spare.splice(i, 1)[0] : new ArrayBuffer(Math.ceil(Math.max(bytes, 1024) * 1.25));
            const out = new array.constructor(buffer, 0, n);
            out.set(array.subarray(0, n));
            return out;
        }
        draw(sets, view, shown) {
            const parts = [], moved = [];
            sets.forEach((set) => {
                if (!set.visible || !set.size) return;
                const n = set.size;
                const part = {visible: true, size: n, look: set.look, pos: this.copy(set.pos, 2 * n),
                    col: this.copy(set.col, 4 * n), head: this.copy(set.head, n)};
                moved.push(part.pos.buffer, part.col.buffer, part.head.buffer);
                parts.push(part);
                set.dirty = false;
            });
            const id = ++this.next;
            if (shown) this.shown.set(id, shown);
            this.worker.postMessage({id: id, sets: parts, view: Object.assign({dpr: self.devicePixelRatio || 1}, view)}, moved);
        }
    }

    let webglInfoCache = null;
    /** What WebGL this browser has: {gpu: the renderer's name or "none", software: whether it is
     * rasterised on the CPU (SwiftShader, llvmpipe), when every frame is also read back for the
     * software compositor: a fixed ~25-45 ms of main thread per frame here, whatever the count}. */
    function webglInfo() {
        if (webglInfoCache) return webglInfoCache;
        let gpu = "none";
        const probe = document.createElement("canvas").getContext("webgl");
        if (probe) {
            const info = probe.getExtension("WEBGL_debug_renderer_info");
            gpu = String(info ? probe.getParameter(info.UNMASKED_RENDERER_WEBGL) : probe.getParameter(probe.RENDERER));
            const lose = probe.getExtension("WEBGL_lose_context");
            if (lose) lose.loseContext();
        }
        return (webglInfoCache = {gpu: gpu, software: gpu === "none" || /swiftshader|llvmpipe|softpipe|software/i.test(gpu)});
    }

    /** A point renderer of ``kind`` on ``canvas``: "webgl"; "canvas" (Canvas 2D, drawn in a worker
     * where the browser has OffscreenCanvas, else on the page); "canvas-page" (Canvas 2D on the
     * page's thread). Canvas 2D when WebGL fails. Its ``kind`` says which it is: "webgl",
     * "canvas-worker" or "canvas". */
    function pointRenderer(canvas, kind) {
        if (kind !== "canvas" && kind !== "canvas-page") {
            try {
                return {points: new GLPoints(canvas), kind: "webgl"};
            } catch (err) {
                console.warn("smartcity map: " + err.message + "; drawing on a 2D canvas");  // eslint-disable-line no-console
                canvas = canvas.cloneNode(false);  // a canvas keeps the first context kind asked of it
            }
        }
        if (kind !== "canvas-page") {
            try {
                return {points: new WorkerPoints(canvas), kind: "canvas-worker", canvas: canvas};
            } catch (err) { /* no OffscreenCanvas: on the page */ }
        }
        return {points: new CanvasPoints(canvas), kind: "canvas", canvas: canvas};
    }

    window.smartcityGL = {TILE: TILE, CELL: CELL, PointSet: PointSet, GLPoints: GLPoints, CanvasPoints: CanvasPoints,
        WorkerPoints: WorkerPoints,
        pointRenderer: pointRenderer, webglInfo: webglInfo, mercX: mercX, mercY: mercY,
        rgba: rgba, sizeOf: sizeOf};
})();
