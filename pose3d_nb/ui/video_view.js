// The front end of VideoView: shows `value` (image bytes) and sends clicks as fractions of
// the image's size, so the kernel maps them to frame pixels whatever size the page draws it.
function render({ model, el }) {
  const img = document.createElement("img");
  img.className = "widget-image";
  img.style.display = "block";
  img.style.width = "100%";
  img.style.height = "auto";
  img.style.cursor = "crosshair";
  img.title = "Click a person to follow them";
  let shown = null;

  const show = () => {
    const data = model.get("value");
    if (!data || data.byteLength === 0) return;
    const next = URL.createObjectURL(new Blob([data], { type: `image/${model.get("format")}` }));
    const previous = shown;
    shown = next;
    img.src = next;
    // The old frame's memory is released once the browser no longer needs it.
    if (previous) setTimeout(() => URL.revokeObjectURL(previous), 1000);
  };

  const click = (event) => {
    const box = img.getBoundingClientRect();
    if (box.width <= 0 || box.height <= 0) return;
    model.send({
      type: "click",
      x: (event.clientX - box.left) / box.width,
      y: (event.clientY - box.top) / box.height,
    });
  };

  model.on("change:value", show);
  img.addEventListener("click", click);
  show();
  el.appendChild(img);
  return () => {
    model.off("change:value", show);
    img.removeEventListener("click", click);
    if (shown) URL.revokeObjectURL(shown);
  };
}

export default { render };
