// The front end of VideoView: shows `value` (image bytes) and sends clicks as fractions of
// the image's size, so the kernel maps them to frame pixels whatever size the page draws it.
// Until the first frame: a dark 16:9 panel saying what will appear, not a broken-image icon.
const PLACEHOLDER = "data:image/svg+xml," + encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 360">' +
  '<rect width="640" height="360" fill="#202124"/>' +
  '<text x="320" y="187" fill="#9aa0a6" font-family="sans-serif" font-size="22" ' +
  'text-anchor="middle">No frame yet (press Start)</text></svg>');

function render({ model, el }) {
  const img = document.createElement("img");
  img.alt = "";
  img.className = "widget-image";
  img.style.display = "block";
  img.style.width = "100%";
  img.style.height = "auto";
  img.style.cursor = "crosshair";
  img.title = "Click a person to follow them";
  let shown = null;

  const show = () => {
    const data = model.get("value");
    if (!data || data.byteLength === 0) {
      if (!shown) img.src = PLACEHOLDER;
      return;
    }
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
