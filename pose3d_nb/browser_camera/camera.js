// BrowserCamera front end: the browser's webcam -> JPEG frames -> the kernel.
// Plain ES module for anywidget (no dependencies, no bundling, nothing fetched at run time).
//
// One Camera per widget model, shared by all its views: getUserMedia -> an off-page <video> ->
// canvas -> JPEG -> model.send(meta, undefined, [jpeg]). At most one frame is in flight: the
// next frame is captured only after the kernel's ack of the previous one, so the kernel always
// gets the newest camera frame and nothing queues up (camera frames that pass meanwhile are
// counted as "skipped"). Protocol and states: pose3d_nb/browser_camera/protocol.py.

const CAMERAS = new Map(); // the model's _uid -> Camera (render() finds initialize()'s Camera)

// getUserMedia's DOMException names -> our states (older Chrome names included).
const ERROR_STATES = {
  NotAllowedError: "denied",
  PermissionDeniedError: "denied",
  SecurityError: "denied",
  NotFoundError: "no_camera",
  DevicesNotFoundError: "no_camera",
  OverconstrainedError: "no_camera",
  ConstraintNotSatisfiedError: "no_camera",
  NotReadableError: "busy",
  TrackStartError: "busy",
  AbortError: "busy",
};

// Nudges per frame (delays nudge_ms * 1, 2, 4 ... : 6 cover 63x nudge_ms, e.g. 0.6 s).
const MAX_NUDGES = 6;

const COLOURS = { ok: "#2e7d32", warn: "#a15c00", bad: "#c62828", off: "#666" };

// Browser wall clock in ms since the epoch, comparable with the kernel's time.time().
const wallMs = () => performance.timeOrigin + performance.now();

// Largest size within the requested box, aspect kept, never upscaled, even numbers for JPEG.
function fitSize(w, h, maxW, maxH) {
  const scale = Math.min(1, maxW / w, maxH / h);
  return [Math.max(2, 2 * Math.round((w * scale) / 2)), Math.max(2, 2 * Math.round((h * scale) / 2))];
}

function stopTracks(stream) {
  if (stream) for (const track of stream.getTracks()) track.stop();
}

class Camera {
  constructor(model) {
    this.model = model;
    this.views = new Set();
    this.state = model.get("state") || "idle";
    this.error = "";
    this.stream = null;
    this.video = null; // capture element, never in the page (works while the cell is scrolled away)
    this.canvas = document.createElement("canvas");
    this.ctx = this.canvas.getContext("2d", { alpha: false });
    this.generation = 0; // bumped by start/stop so that late promises know they are stale
    this.timer = null;
    this.stopTimer = null;
    this.restartTimer = null;
    this.inFlight = null; // {id, sentAt}
    this.nextId = 0;
    this.lastCapture = 0;
    this.skipped = 0;
    this.lastRtt = null;
    this.acks = []; // ack times of the last 2 s, for the rate shown
    this.size = null;
    this.cameraFps = null;
    this.onVisibility = () => this.visibilityChanged();
    document.addEventListener("visibilitychange", this.onVisibility);
    this.ticker = null;
  }

  // ---- state ------------------------------------------------------------------------------------
  setState(state, error = "") {
    if (state === this.state && error === this.error) return;
    this.state = state;
    this.error = error;
    try {
      this.model.set("state", state);
      this.model.set("error", error);
      this.model.save_changes();
    } catch (err) {
      console.warn("BrowserCamera: could not tell the kernel its state", err);
    }
    this.redraw();
  }

  redraw() {
    for (const view of this.views) view.redraw(this);
  }

  // ---- views ------------------------------------------------------------------------------------
  addView(view) {
    clearTimeout(this.stopTimer);
    this.views.add(view);
    if (this.stream) view.attach(this.stream);
    view.redraw(this);
    if (!this.ticker) this.ticker = setInterval(() => this.redraw(), 1000);
    if (!this.stream && this.views.size === 1) this.start();
  }

  removeView(view) {
    this.views.delete(view);
    view.attach(null);
    if (this.views.size) return;
    clearInterval(this.ticker);
    this.ticker = null;
    // A view can be re-created right away (a cell moved): keep the camera a moment.
    this.stopTimer = setTimeout(() => {
      if (!this.views.size) {
        this.stop();
        this.setState("idle");
      }
    }, 1000);
  }

  // ---- the camera -------------------------------------------------------------------------------
  async start() {
    this.stop();
    const gen = this.generation;
    if (!this.model.get("enabled")) return this.setState("paused");
    const devices = navigator.mediaDevices;
    if (!devices || !devices.getUserMedia) {
      return this.setState(
        "unsupported",
        `navigator.mediaDevices.getUserMedia is not available (secure context: ${window.isSecureContext})`,
      );
    }
    this.setState("waiting");
    const m = this.model;
    let stream;
    try {
      stream = await devices.getUserMedia({
        audio: false,
        video: {
          width: { ideal: m.get("width") },
          height: { ideal: m.get("height") },
          frameRate: { ideal: m.get("fps") },
        },
      });
    } catch (err) {
      if (gen !== this.generation) return;
      const name = (err && err.name) || "Error";
      const detail = err && err.constraint ? ` (constraint: ${err.constraint})` : "";
      return this.setState(ERROR_STATES[name] || "error", `${name}: ${(err && err.message) || err}${detail}`);
    }
    if (gen !== this.generation) return stopTracks(stream); // stopped or restarted meanwhile
    const track = stream.getVideoTracks()[0];
    if (!track) {
      stopTracks(stream);
      return this.setState("no_camera", "the stream has no video track");
    }
    track.addEventListener("ended", () => {
      if (this.stream !== stream) return;
      this.stop();
      this.setState("ended", "the camera's video track ended");
    });
    this.cameraFps = track.getSettings().frameRate || null;
    const video = document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    video.srcObject = stream;
    try {
      await video.play();
    } catch (err) {
      stopTracks(stream);
      if (gen === this.generation) this.setState("error", `video.play(): ${err}`);
      return;
    }
    if (gen !== this.generation) return stopTracks(stream);
    this.stream = stream;
    this.video = video;
    for (const view of this.views) view.attach(stream);
    this.lastCapture = 0;
    this.setState(document.hidden ? "hidden" : "streaming");
    this.schedule(0);
  }

  stop() {
    this.generation += 1;
    clearTimeout(this.timer);
    this.timer = null;
    stopTracks(this.stream);
    if (this.video) this.video.srcObject = null;
    this.stream = null;
    this.video = null;
    this.inFlight = null;
    for (const view of this.views) view.attach(null);
  }

  restartSoon() {
    // width, height and fps often change together: reopen the camera once.
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (this.views.size && (this.stream || this.state === "waiting")) this.start();
    }, 200);
  }

  enabledChanged() {
    if (this.model.get("enabled")) {
      if (this.views.size && !this.stream) this.start();
    } else {
      this.stop();
      this.setState("paused");
    }
  }

  visibilityChanged() {
    if (!this.stream) return;
    if (document.hidden) {
      clearTimeout(this.timer);
      this.timer = null;
      this.setState("hidden");
    } else if (this.state === "hidden") {
      this.lastCapture = 0; // the hidden time is a pause, not skipped frames
      if (this.inFlight) this.inFlight.sentAt = wallMs(); // give the kernel its full ack_timeout
      this.setState("streaming");
      this.schedule(0);
    }
  }

  // ---- capture loop -----------------------------------------------------------------------------
  interval() {
    const rate = Math.min(this.model.get("fps"), this.cameraFps || Infinity);
    return 1000 / rate;
  }

  schedule(delayMs) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), Math.max(0, delayMs));
  }

  tick() {
    this.timer = null;
    if (!this.video || document.hidden) return;
    const now = wallMs();
    if (this.inFlight) {
      // Waiting for the ack; if it does not come, say so (kernel busy, restarted or gone).
      const silentS = (now - this.inFlight.sentAt) / 1000;
      if (this.inFlight.sentAt && silentS > this.model.get("ack_timeout")) {
        this.setState("disconnected", `no answer from the kernel for ${silentS.toFixed(0)} s`);
      }
      return this.schedule(250);
    }
    const video = this.video;
    if (video.readyState < 2 || !video.videoWidth) return this.schedule(30);
    const due = this.lastCapture + this.interval();
    if (this.lastCapture && now < due - 1) return this.schedule(due - now);
    this.capture(now);
  }

  async capture(now) {
    const gen = this.generation;
    const video = this.video;
    if (this.lastCapture) {
      // Camera frames that passed while the previous frame was in flight (back-pressure).
      const missed = Math.round((now - this.lastCapture) / this.interval()) - 1;
      if (missed > 0) this.skipped += missed;
    }
    this.lastCapture = now;
    const [w, h] = fitSize(video.videoWidth, video.videoHeight, this.model.get("width"), this.model.get("height"));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.ctx.drawImage(video, 0, 0, w, h);
    const id = this.nextId++;
    this.inFlight = { id, sentAt: 0 };
    let jpeg;
    try {
      const blob = await new Promise((resolve, reject) =>
        this.canvas.toBlob(
          (b) => (b ? resolve(b) : reject(new Error("canvas.toBlob gave no JPEG"))),
          "image/jpeg",
          this.model.get("quality"),
        ),
      );
      jpeg = await blob.arrayBuffer();
    } catch (err) {
      if (gen !== this.generation) return;
      this.inFlight = null;
      this.setState("error", `JPEG encoding failed: ${err}`);
      return;
    }
    if (gen !== this.generation || document.hidden) {
      // Stopped or hidden while encoding: drop this frame, nothing is in flight.
      if (gen === this.generation) this.inFlight = null;
      return;
    }
    const sentAt = wallMs();
    this.inFlight.sentAt = sentAt;
    this.size = [w, h];
    try {
      this.model.send(
        {
          type: "frame",
          id,
          t_capture: now,
          t_send: sentAt,
          width: w,
          height: h,
          encode_ms: sentAt - now,
          rtt_ms: this.lastRtt,
          skipped: this.skipped,
        },
        undefined,
        [jpeg],
      );
    } catch (err) {
      // The comm is gone (kernel shut down): the watchdog below reports "disconnected".
      console.warn("BrowserCamera: send failed", err);
    }
    this.schedule(250); // ack watchdog
    this.nudge(id, 0);
  }

  // Why nudges: jupyter_server's websocket does not set TCP_NODELAY. The kernel's "busy" status
  // for our frame reaches the browser first; the browser delays its TCP ACK (40 ms on Linux,
  // up to 200 ms on Windows) and Nagle holds the kernel's ack behind it: measured 45 ms per
  // frame, capping delivery at about 17 frames/s. Any small message from the browser carries
  // that TCP ACK at once. The kernel ignores nudges; at most MAX_NUDGES per frame, backing off.
  nudge(id, n) {
    const ms = this.model.get("nudge_ms");
    if (!(ms > 0) || n >= MAX_NUDGES) return;
    const gen = this.generation;
    setTimeout(() => {
      if (gen !== this.generation || !this.inFlight || this.inFlight.id !== id) return;
      try {
        this.model.send({ type: "nudge", id });
      } catch (err) {
        return; // comm gone: the ack watchdog reports it
      }
      this.nudge(id, n + 1);
    }, ms * 2 ** n);
  }

  onMessage(msg) {
    if (!msg || msg.type !== "ack" || !this.inFlight || msg.id !== this.inFlight.id) return;
    const now = wallMs();
    this.lastRtt = now - this.inFlight.sentAt;
    this.inFlight = null;
    this.acks.push(now);
    while (this.acks.length && now - this.acks[0] > 2000) this.acks.shift();
    if (this.state === "disconnected") this.setState("streaming");
    if (!this.video || document.hidden) return;
    this.schedule(this.lastCapture + this.interval() - now);
  }

  deliveredFps() {
    const now = wallMs();
    const recent = this.acks.filter((t) => now - t <= 2000);
    return recent.length / 2;
  }

  destroy() {
    this.stop();
    clearTimeout(this.stopTimer);
    clearTimeout(this.restartTimer);
    clearInterval(this.ticker);
    document.removeEventListener("visibilitychange", this.onVisibility);
  }
}

// ---- the state line -------------------------------------------------------------------------------
function describe(cam) {
  const m = cam.model;
  switch (cam.state) {
    case "idle":
      return ["camera off", COLOURS.off];
    case "waiting":
      return ["waiting for camera permission… (answer the browser's prompt)", COLOURS.warn];
    case "streaming": {
      const size = cam.size ? `${cam.size[0]}×${cam.size[1]}` : `${m.get("width")}×${m.get("height")}`;
      const rtt = cam.lastRtt === null ? "–" : cam.lastRtt.toFixed(0);
      return [
        `● streaming ${size} · ${cam.deliveredFps().toFixed(1)} frames/s to the kernel · ` +
          `round trip ${rtt} ms · skipped ${cam.skipped}`,
        COLOURS.ok,
      ];
    }
    case "hidden":
      return ["‖ paused: this browser tab is hidden (resumes when it is visible again)", COLOURS.warn];
    case "paused":
      return ["‖ camera off (enabled = False)", COLOURS.off];
    case "disconnected":
      return [
        `⚠ kernel disconnected: ${cam.error || "no answer from the kernel"} (kernel busy with a long ` +
          "computation, restarted or stopped). After a kernel restart, re-run the cell.",
        COLOURS.warn,
      ];
    case "denied":
      return [
        "✖ camera permission denied: allow the camera for this site (icon in the address bar), " +
          "then re-run the cell",
        COLOURS.bad,
      ];
    case "no_camera":
      return ["✖ no camera found (or none matching the requested size and rate)", COLOURS.bad];
    case "busy":
      return ["✖ camera busy: used by another program or tab; close it, then re-run the cell", COLOURS.bad];
    case "ended":
      return ["✖ the camera stopped (unplugged or access revoked); re-run the cell", COLOURS.bad];
    case "unsupported":
      return ["✖ this page cannot use a camera: it must be served over https:// or from localhost", COLOURS.bad];
    default:
      return ["✖ camera error", COLOURS.bad];
  }
}

function makeView(el, model) {
  const root = document.createElement("div");
  root.className = "pose3d-browser-camera";
  root.style.cssText =
    "display:inline-flex;flex-direction:column;gap:4px;font:12px sans-serif;max-width:100%;overflow-wrap:anywhere";
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.autoplay = true;
  video.style.cssText = "background:#222;border-radius:3px;max-width:100%";
  const line = document.createElement("div");
  line.className = "pose3d-browser-camera-state";
  const detail = document.createElement("div");
  detail.className = "pose3d-browser-camera-error";
  detail.style.cssText = "color:#666;font-size:11px";
  root.append(video, line, detail);
  el.append(root);
  const sizePreview = () => {
    const w = model.get("preview_width");
    // The text wraps under the preview instead of widening the widget over its neighbours.
    root.style.width = `${Math.max(w, 240)}px`;
    video.style.display = w > 0 ? "" : "none";
    video.style.width = `${w}px`;
    // Before the stream has a size the box keeps the requested aspect; then the real one wins.
    video.style.aspectRatio = `auto ${model.get("width")} / ${model.get("height")}`;
  };
  sizePreview();
  return {
    root,
    sizePreview,
    attach(stream) {
      if (video.srcObject !== stream) video.srcObject = stream;
      if (stream) video.play().catch(() => {}); // a muted preview may always autoplay
    },
    redraw(cam) {
      const [text, colour] = describe(cam);
      root.dataset.state = cam.state;
      line.textContent = text;
      line.style.color = colour;
      const own = cam.state === "streaming" || cam.state === "disconnected"; // error already in the line
      detail.textContent = cam.error && !own ? `browser: ${cam.error}` : "";
    },
  };
}

// ---- anywidget entry points -----------------------------------------------------------------------
function initialize({ model }) {
  const cam = new Camera(model);
  CAMERAS.set(model.get("_uid"), cam);
  model.on("msg:custom", (msg) => cam.onMessage(msg));
  model.on("change:enabled", () => cam.enabledChanged());
  model.on("change:width", () => cam.restartSoon());
  model.on("change:height", () => cam.restartSoon());
  model.on("change:fps", () => cam.restartSoon());
  return () => {
    // The widget was closed in Python: release the camera.
    cam.destroy();
    CAMERAS.delete(model.get("_uid"));
  };
}

function render({ model, el }) {
  const cam = CAMERAS.get(model.get("_uid"));
  const view = makeView(el, model);
  if (!cam) {
    view.root.textContent = "BrowserCamera: no camera controller for this widget (reload the page)";
    return undefined;
  }
  model.on("change:preview_width", view.sizePreview);
  model.on("change:width", view.sizePreview);
  model.on("change:height", view.sizePreview);
  cam.addView(view);
  return () => cam.removeView(view);
}

export default { initialize, render };
