// Echo server for the client tests: Node's ws (Debian node-ws).
//
// Listens on 127.0.0.1 on a free port, prints "PORT <n>" once accepting,
// echoes every message (fragmented ones reassembled), and closes with CODE
// REASON when sent "close-me CODE REASON". Speaks the subprotocol "chat.v1"
// when offered. Runs until stdin reaches EOF.
//
// The optional argument is ws's perMessageDeflate option as JSON (default
// {}: permessage-deflate with ws's defaults, a 1024-byte threshold and
// context takeover both ways; false disables it).
"use strict";
const { WebSocketServer } = require("ws");

const perMessageDeflate = process.argv[2] ? JSON.parse(process.argv[2]) : {};
const wss = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  maxPayload: 1 << 25,
  perMessageDeflate,
  handleProtocols: (protocols) => (protocols.has("chat.v1") ? "chat.v1" : false),
});
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => {
    if (!isBinary) {
      const s = data.toString();
      if (s.startsWith("close-me ")) {
        const [, code, reason] = s.split(" ");
        ws.close(Number(code), reason);
        return;
      }
    }
    ws.send(data, { binary: isBinary });
  });
});
wss.on("listening", () => console.log("PORT " + wss.address().port));
process.stdin.on("data", () => {});
process.stdin.on("end", () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
});
