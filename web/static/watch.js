// Admins watching a session: poll its (redacted) transcript while it is live.
(function () {
  "use strict";
  const box = document.getElementById("watch");
  if (!box) { return; }
  async function refresh() {
    const resp = await fetch(box.dataset.url, { headers: { Accept: "application/json" } });
    if (!resp.ok) { box.textContent = "Transcript unavailable (" + resp.status + ")"; return; }
    const body = await resp.json();
    box.textContent = body.lines.map(function (l) {
      return (l.direction === "in" ? "> " : l.direction === "note" ? "# " : "") + l.text;
    }).join("\n");
  }
  refresh();
  setInterval(refresh, 3000);
})();
