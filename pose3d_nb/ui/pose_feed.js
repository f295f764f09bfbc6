// PoseFeed front end: writes each 3D pose straight into a pythreejs scene's vertex buffer.
// Plain ES module for anywidget (no dependencies, no bundling, nothing fetched at run time).
//
// Why not set the pythreejs BufferAttribute's `array` from the kernel: pythreejs answers every
// such change with a state message back to the kernel (the attribute's new `version`), so each
// 3D frame made the kernel go busy/idle and JupyterLab redraw its kernel status, which in a
// busy browser cost about a fifth of the 3D frame rate. A custom message carries no state and
// gets no answer. Protocol: PoseFeed.send_vertices() in pose_feed.py.

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
    let targets = null; // Promise of [attribute model, renderer model], resolved once
    const onMessage = async (msg, buffers) => {
      if (!msg || msg.type !== "pose" || !buffers || !buffers.length) return;
      targets = targets || Promise.all([threeModel(model, model.get("positions")),
                                        threeModel(model, model.get("renderer"))]);
      let attributeModel, rendererModel;
      try {
        [attributeModel, rendererModel] = await targets;
      } catch (error) {
        targets = null; // look the scene up again with the next pose
        console.warn("pose3d PoseFeed: the 3D scene is not available yet", error);
        return;
      }
      const attribute = attributeModel.obj; // THREE.BufferAttribute
      const data = floats(buffers[0]);
      if (!attribute || attribute.array.length !== data.length) {
        console.warn(`pose3d PoseFeed: expected ${attribute && attribute.array.length} floats, got ${data.length}`);
        return;
      }
      attribute.array.set(data);
      attribute.needsUpdate = true; // three.js uploads the buffer on the next draw
      rendererModel.trigger("rerender", rendererModel, {}); // every view of the scene draws
    };
    model.on("msg:custom", onMessage);
    return () => model.off("msg:custom", onMessage);
  },
};
