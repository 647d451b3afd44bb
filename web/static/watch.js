// Admins watching a live session: its transcript streamed as server-sent events.
// The server writes one audit event per viewing and ends the stream with the session.
(function () {
  "use strict";
  const box = document.getElementById("watch");
  if (!box || !window.EventSource) { return; }
  const source = new EventSource(box.dataset.url);
  let text = "";
  source.onmessage = function (ev) {
    const line = JSON.parse(ev.data);
    if (line.direction === "out" || line.direction === "res") {
      text += line.text.replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]/g, "").replace(/\r/g, "");
    } else {
      text += "\n" + (line.direction === "note" ? "# " : "> ") + line.text + "\n";
    }
    box.textContent = text;
  };
  source.addEventListener("end", function (ev) {
    box.textContent = text + "\n# session " + JSON.parse(ev.data).state;
    source.close();
  });
})();
