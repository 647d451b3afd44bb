// Browser side of the session terminal: xterm.js <-> websocket (JSON events from the server).
(function () {
  "use strict";
  const box = document.getElementById("terminal");
  const message = document.getElementById("terminal-message");
  if (box && window.Terminal) {
    const term = new window.Terminal({ cursorBlink: true, convertEol: false, rows: 24 });
    term.open(box);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + box.dataset.ws);
    ws.onmessage = function (ev) {
      const event = JSON.parse(ev.data);
      if (event.read !== undefined) { term.write(event.read); }
      if (event.refused) { message.textContent = "Blocked: " + event.refused; }
      if (event.waiting) { message.textContent = "Waiting for approval: " + event.waiting; }
      if (event.notice) { message.textContent = event.notice; }
      if (event.end !== undefined) {
        message.textContent = "Terminal ended: " + event.end;
        document.getElementById("state").textContent = "ended";
      }
    };
    ws.onclose = function () { term.options.disableStdin = true; };
    term.onData(function (data) { if (ws.readyState === 1) { ws.send(data); } });
    window.custodyTerminal = term;
    term.focus();
  } else if (box) {
    box.textContent = "Terminal assets are missing: run scripts/setup-web, then reinstall.";
  }

  const form = document.getElementById("command-form");
  if (form) {
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const out = document.getElementById("command-output");
      const resp = await fetch(form.dataset.url, {
        method: "POST",
        headers: { "Content-Type": "application/json",
                   "X-CSRFToken": document.getElementById("csrf").value },
        body: JSON.stringify({ command: document.getElementById("command").value }),
      });
      const body = await resp.json();
      out.textContent = resp.ok ? body.output : "Error: " + body.error.message;
    });
  }

  const remaining = document.getElementById("remaining");
  if (remaining) {
    const expires = new Date(remaining.dataset.expires);
    setInterval(function () {
      const left = Math.max(0, Math.round((expires - new Date()) / 1000));
      remaining.textContent = Math.floor(left / 60) + " min " + (left % 60) + " s";
    }, 1000);
  }
})();
