// PoseFeed front end: writes each 3D pose straight into a pythreejs scene's vertex buffer.
// Plain ES module for anywidget (no dependencies, no bundling, nothing fetched at run time).
//
// Why not set the pythreejs BufferAttribute's `array` from the kernel: pythreejs answers every
// such change with a state message back to the kernel (the attribute's new `version`), so each
// 3D frame made the kernel go busy/idle and JupyterLab redraw its kernel status, which in a
// busy browser cost a quarter of the 3D frame rate (tests/browser/bench_display.py). A custom
// message carries no state and gets no answer. Protocol: PoseFeed.send_vertices() in pose_feed.py:
// msg.targets names the attribute each buffer goes to (`positions`, `trail`, `others`), all drawn once.

function modelId(ref) {
  return String(ref).replace(/^IPY_MODEL_/, "");
}

// The pythreejs model of a widget reference, once its three.js object exists.
async function threeModel(model, ref) {
  const target = await model.widget_manager.get_model(modelId(ref));
  if (target.initPromise) await target.initPromise;
  return target;
}

function floats(buffer) {
  // DataView or ArrayBuffer; copied, since a view into the message may be unaligned for floats.
  const view = ArrayBuffer.isView(buffer) ? buffer : new DataView(buffer);
  return new Float32Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

export default {
  initialize({ model }) {
    // Per target list: Promise of [renderer model, attribute models...], looked up once.
    let targets = new Map();
    let warned = false;
    const warnOnce = (...args) => {
      if (!warned) console.warn("pose3d PoseFeed:", ...args);
      warned = true;
    };
    const onMessage = async (msg, buffers) => {
      if (!msg || msg.type !== "pose" || !buffers || !buffers.length) return;
      // Which attribute each buffer goes to, in order (older kernels: positions, then trail).
      const names = Array.isArray(msg.targets) ? msg.targets : ["positions", "trail"];
      const key = names.join(",");
      if (!targets.has(key)) {
        targets.set(key, Promise.all([threeModel(model, model.get("renderer")),
          ...names.map((name) => (model.get(name) ? threeModel(model, model.get(name)) : null))]));
      }
      let rendererModel, attributeModels;
      try {
        [rendererModel, ...attributeModels] = await targets.get(key);
      } catch (error) {
        targets.delete(key); // look the scene up again with the next pose
        warnOnce("the 3D scene is not available yet", error);
        return;
      }
      // Check every buffer first, so a pose is drawn whole or not at all.
      const writes = [];
      for (let i = 0; i < buffers.length && i < attributeModels.length; i++) {
        const attribute = attributeModels[i] && attributeModels[i].obj; // THREE.BufferAttribute
        const data = floats(buffers[i]);
        if (!attribute || attribute.array.length !== data.length) {
          targets.delete(key);
          warnOnce(`buffer ${i} (${names[i]}): expected ${attribute ? attribute.array.length : "a scene with"} ` +
                   `floats, got ${data.length}`);
          return;
        }
        writes.push([attribute, data]);
      }
      warned = false;
      for (const [attribute, data] of writes) {
        attribute.array.set(data);
        attribute.needsUpdate = true; // three.js uploads the buffer on the next draw
      }
      if (!rendererModel.get("_pause_autorender")) {
        rendererModel.trigger("rerender", rendererModel, {}); // every view of the renderer draws
      }
    };
    const forget = () => { targets = new Map(); };
    model.on("msg:custom", onMessage);
    model.on("change:positions change:trail change:others change:renderer", forget);
    return () => {
      model.off("msg:custom", onMessage);
      model.off("change:positions change:trail change:others change:renderer", forget);
    };
  },
};
