// Browser side of the session terminal: xterm.js <-> websocket (JSON events from the server).
// The terminal fits its box, and the device's pty follows its size.
(function () {
  "use strict";
  const box = document.getElementById("terminal");
  const message = document.getElementById("terminal-message");
  const status = document.getElementById("terminal-status");
  function show(state, text) {
    if (status) { status.dataset.state = state; status.textContent = text; }
  }
  if (box && window.Terminal) {
    const term = new window.Terminal({ cursorBlink: true, convertEol: false });
    const fit = window.FitAddon ? new window.FitAddon.FitAddon() : null;
    if (fit) { term.loadAddon(fit); }
    term.open(box);
    const refit = function () {
      if (fit && box.clientWidth > 0) { fit.fit(); }
    };
    refit();
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + box.dataset.ws);
    const sendSize = function () {
      if (ws.readyState === 1) { ws.send(JSON.stringify({ resize: [term.cols, term.rows] })); }
    };
    show("connecting", "connecting…");
    ws.onopen = function () { show("connected", "connected"); sendSize(); };
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
    ws.onclose = function () {
      term.options.disableStdin = true;
      show("disconnected", "disconnected");
    };
    term.onData(function (data) {
      if (ws.readyState === 1) { ws.send(JSON.stringify({ keys: data })); }
    });
    term.onResize(sendSize);
    if (window.ResizeObserver) {
      new ResizeObserver(refit).observe(box);
    } else {
      window.addEventListener("resize", refit);
    }
    window.custodyTerminal = term;
    term.focus();
  } else if (box) {
    box.textContent = "Terminal assets are missing: run scripts/setup-web, then reinstall.";
  }

  const form = document.getElementById("command-form");
  if (form) {
    const run = document.getElementById("command-run");
    const cancel = document.getElementById("command-cancel");
    const out = document.getElementById("command-output");
    let running = null;
    cancel.addEventListener("click", function () { if (running) { running.abort(); } });
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      running = new AbortController();
      run.disabled = true;
      cancel.hidden = false;
      out.setAttribute("aria-busy", "true");
      out.textContent = "Running…";
      try {
        const resp = await fetch(form.dataset.url, {
          method: "POST",
          signal: running.signal,
          headers: { "Content-Type": "application/json",
                     "X-CSRFToken": document.getElementById("csrf").value },
          body: JSON.stringify({ command: document.getElementById("command").value }),
        });
        const body = await resp.json().catch(function () { return null; });
        if (resp.ok && body) {
          out.textContent = body.output;
        } else {
          out.textContent = "Error: " + (body && body.error ? body.error.message : resp.status + " " + resp.statusText);
        }
      } catch (err) {
        out.textContent = err.name === "AbortError"
          ? "Cancelled: this page stopped waiting; the device may still finish the command."
          : "Error: " + err.message;
      } finally {
        running = null;
        run.disabled = false;
        cancel.hidden = true;
        out.removeAttribute("aria-busy");
      }
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
