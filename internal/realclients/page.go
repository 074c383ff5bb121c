package realclients

// ChromiumTestPage is an HTML page for RunChromium. Serve it from the same
// host and port as the WebSocket endpoint (so that the browser's Origin passes
// the server's check). Its script connects to
// ws(s)://<location.host>/ws — the path can be changed with the query
// parameter "ws", e.g. "/?ws=/echo" — and runs, as the browser's WebSocket API
// allows, the steps of ModeEcho: "text", "utf8-text", "binary-0-255"
// (ArrayBuffer), "empty-text", "empty-binary", "1mib-binary" (random bytes),
// "1mib-text", "no-unexpected-messages", then ws.close(4001, "bye now").
// Browsers cannot send fragmented messages or pings, so those are left out
// and Report.Pong stays false. With the query parameter "mode=server-close"
// it runs ModeServerClose instead.
//
// When done it writes the JSON report into <pre id="result"> and then appends
// <div id="done">; ParseChromiumResult decodes it. Each step times out after
// 10 s, so the page always finishes.
const ChromiumTestPage = `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>ws4go realclients chromium test</title></head>
<body>
<pre id="result"></pre>
<script>
"use strict";
(function () {
  var STEP_TIMEOUT_MS = 10000;
  var params = new URLSearchParams(location.search);
  var mode = params.get("mode") === "server-close" ? "server-close" : "echo";
  var report = {
    client: "chromium " + navigator.userAgent,
    mode: mode,
    echoes: [],
    close_code: 0,
    close_reason: "",
    close_clean: false,
    extensions: "",
    protocol: "",
    error: ""
  };
  var finished = false;
  function finish() {
    if (finished) return;
    finished = true;
    document.getElementById("result").textContent = JSON.stringify(report);
    var done = document.createElement("div");
    done.id = "done";
    document.body.appendChild(done);
  }
  function utf8(s) { return new TextEncoder().encode(s); }
  function bytesOf(data) { return typeof data === "string" ? utf8(data) : new Uint8Array(data); }
  function describe(data) {
    return (typeof data === "string" ? "text" : "binary") + " len=" + bytesOf(data).length;
  }
  function sameBytes(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  // Exactly 1<<20 bytes of valid UTF-8 mixing 1- to 4-byte sequences.
  function bigText() {
    var unit = "h\u00e9llo w\u00f6rld \u2713 \ud834\udd1e ";
    var unitLen = utf8(unit).length;
    var n = Math.floor((1 << 20) / unitLen);
    return unit.repeat(n) + "x".repeat((1 << 20) - n * unitLen);
  }
  function randomBytes(n) {
    var b = new Uint8Array(n);
    for (var i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
    return b;
  }
  var range = new Uint8Array(256);
  for (var i = 0; i < 256; i++) range[i] = i;
  var steps = [
    ["text", "hello"],
    ["utf8-text", "h\u00e9llo w\u00f6rld \u2713 \ud834\udd1e"],
    ["binary-0-255", range.buffer],
    ["empty-text", ""],
    ["empty-binary", new ArrayBuffer(0)],
    ["1mib-binary", randomBytes(1 << 20).buffer],
    ["1mib-text", bigText()]
  ];

  var queue = [];
  var waiter = null;
  var closed = false;
  var opened = false;
  var closeWaiter = null;
  function wake() { if (waiter) { var w = waiter; waiter = null; w(); } }
  function next() {
    return new Promise(function (resolve) {
      var timer = setTimeout(function () { waiter = null; resolve({ timeout: true }); }, STEP_TIMEOUT_MS);
      function check() {
        if (queue.length > 0) { clearTimeout(timer); resolve({ data: queue.shift() }); }
        else if (closed) { clearTimeout(timer); resolve({ closed: true }); }
        else waiter = check;
      }
      check();
    });
  }
  function waitClosed(what) {
    return new Promise(function (resolve) {
      if (closed) { resolve(); return; }
      var timer = setTimeout(function () {
        report.error = what + " within " + STEP_TIMEOUT_MS + "ms";
        resolve();
      }, STEP_TIMEOUT_MS);
      closeWaiter = function () { clearTimeout(timer); resolve(); };
    });
  }
  function unexpected() {
    return queue.length + " unexpected message(s), first: " + describe(queue[0]);
  }

  var ws;
  try {
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + (params.get("ws") || "/ws"));
  } catch (e) {
    report.error = "handshake failed: " + e;
    finish();
    return;
  }
  ws.binaryType = "arraybuffer";
  ws.onmessage = function (e) { queue.push(e.data); wake(); };
  ws.onerror = function () { if (!report.error) report.error = "error event"; };
  ws.onclose = function (e) {
    closed = true;
    report.close_code = e.code;
    report.close_reason = e.reason;
    report.close_clean = e.wasClean;
    if (!opened) {
      report.error = "handshake failed (close code " + e.code + ")";
      finish();
      return;
    }
    wake();
    if (closeWaiter) closeWaiter();
  };
  ws.onopen = function () {
    opened = true;
    report.extensions = ws.extensions;
    report.protocol = ws.protocol;
    (mode === "server-close" ? runServerClose : runEcho)().then(finish, function (e) {
      report.error = "page script: " + e;
      finish();
    });
  };

  async function runEcho() {
    var broken = "";
    for (var i = 0; i < steps.length; i++) {
      var name = steps[i][0], payload = steps[i][1];
      if (broken) {
        report.echoes.push({ name: name, ok: false, detail: "not run: " + broken });
        continue;
      }
      ws.send(payload);
      var got = await next();
      if (got.timeout) {
        broken = "timeout in step " + name;
        report.echoes.push({ name: name, ok: false, detail: "no echo within " + STEP_TIMEOUT_MS + "ms" });
      } else if (got.closed) {
        broken = "connection closed by server (code " + report.close_code + " reason " + JSON.stringify(report.close_reason) + ")";
        report.echoes.push({ name: name, ok: false, detail: broken });
      } else if ((typeof got.data === "string") !== (typeof payload === "string") ||
                 !sameBytes(bytesOf(got.data), bytesOf(payload))) {
        report.echoes.push({ name: name, ok: false, detail: "got " + describe(got.data) + ", want " + describe(payload) });
      } else {
        report.echoes.push({ name: name, ok: true, detail: describe(got.data) });
      }
    }
    report.echoes.push({ name: "no-unexpected-messages", ok: queue.length === 0, detail: queue.length === 0 ? "" : unexpected() });
    if (closed) return;
    ws.close(4001, "bye now");
    await waitClosed("no close from server");
  }

  async function runServerClose() {
    ws.send("close-me 4002 going");
    await waitClosed("server did not close");
    if (queue.length > 0) report.echoes.push({ name: "no-unexpected-messages", ok: false, detail: unexpected() });
  }
})();
</script>
</body>
</html>
`
