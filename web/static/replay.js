// Replay a stored session in the page with asciinema-player (served by custody itself).
(function () {
  "use strict";
  const box = document.getElementById("player");
  if (!box) { return; }
  if (!window.AsciinemaPlayer) {
    box.textContent = "Replay assets are missing: run scripts/setup-web, then reinstall.";
    return;
  }
  window.custodyPlayer = window.AsciinemaPlayer.create(box.dataset.cast, box,
    { fit: "width", idleTimeLimit: 2, terminalFontSize: "small" });
})();
