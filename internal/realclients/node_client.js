'use strict';
// Drives Node's "ws" client (Debian package node-ws) against a WebSocket echo
// server and prints one JSON report on stdout. Embedded into the Go package
// internal/realclients; see RunNode there.
//
// Usage: NODE_PATH=/usr/share/nodejs node node_client.js [flags] URL
//   --mode=echo|server-close   (default echo)
//   --deflate=0|1              offer permessage-deflate (default 0)
//   --origin=URL               send this Origin header
//   --protocols=a,b            offer these subprotocols
//   --step-timeout-ms=N        per-step timeout (default 10000)
//
// Exits 0 whenever it could print a report (failed checks included); a
// non-zero exit means the script itself crashed.

const crypto = require('crypto');
const WebSocket = require('ws');

const opts = { mode: 'echo', deflate: '0', origin: '', protocols: '', 'step-timeout-ms': '10000' };
let url = '';
for (const arg of process.argv.slice(2)) {
  const m = /^--([a-z-]+)=(.*)$/s.exec(arg);
  if (m) {
    if (!(m[1] in opts)) throw new Error('unknown flag ' + arg);
    opts[m[1]] = m[2];
  } else {
    url = arg;
  }
}
if (!url) throw new Error('missing URL argument');
const stepTimeout = parseInt(opts['step-timeout-ms'], 10);

const report = {
  client: 'node-ws ' + require('ws/package.json').version,
  mode: opts.mode,
  echoes: [],
  pong: false,
  pong_payload: '',
  close_code: 0,
  close_reason: '',
  extensions: '',
  protocol: '',
  error: ''
};

function sha(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

function describe(binary, buf) {
  return (binary ? 'binary' : 'text') + ' len=' + buf.length + ' sha256=' + sha(buf).slice(0, 16);
}

// A 1 MiB (exactly 1<<20 bytes) valid UTF-8 text mixing 1-, 2-, 3- and 4-byte
// sequences, padded with ASCII.
function bigText() {
  const unit = Buffer.from('héllo wörld ✓ 𝄞 ', 'utf8');
  const n = Math.floor((1 << 20) / unit.length);
  const parts = [];
  for (let i = 0; i < n; i++) parts.push(unit);
  parts.push(Buffer.alloc((1 << 20) - n * unit.length, 'x'));
  return Buffer.concat(parts);
}

const byteRange = Buffer.alloc(256);
for (let i = 0; i < 256; i++) byteRange[i] = i;
const clef = Buffer.from('𝄞', 'utf8'); // 4 bytes, split across fragments below

// Each step sends something and names the single message expected back.
const steps = [
  { name: 'text', send: (ws) => ws.send('hello'), binary: false, want: Buffer.from('hello') },
  {
    name: 'utf8-text',
    send: (ws) => ws.send('héllo wörld ✓ 𝄞'),
    binary: false,
    want: Buffer.from('héllo wörld ✓ 𝄞', 'utf8')
  },
  { name: 'binary-0-255', send: (ws) => ws.send(byteRange), binary: true, want: byteRange },
  { name: 'empty-text', send: (ws) => ws.send(''), binary: false, want: Buffer.alloc(0) },
  { name: 'empty-binary', send: (ws) => ws.send(Buffer.alloc(0)), binary: true, want: Buffer.alloc(0) },
  (() => {
    const b = crypto.randomBytes(1 << 20);
    return { name: '1mib-binary', send: (ws) => ws.send(b), binary: true, want: b };
  })(),
  (() => {
    const t = bigText();
    return { name: '1mib-text', send: (ws) => ws.send(t, { binary: false }), binary: false, want: t };
  })(),
  {
    name: 'fragmented-text',
    send: (ws) => {
      ws.send('frag-1 ', { fin: false });
      ws.send('frag-2 ', { fin: false });
      ws.send('frag-3', { fin: true });
    },
    binary: false,
    want: Buffer.from('frag-1 frag-2 frag-3')
  },
  {
    // One 4-byte UTF-8 sequence split over three frames: only the whole
    // message is valid UTF-8, each fragment on its own is not.
    name: 'fragmented-utf8-split',
    send: (ws) => {
      ws.send(clef.subarray(0, 1), { binary: false, fin: false });
      ws.send(clef.subarray(1, 3), { binary: false, fin: false });
      ws.send(clef.subarray(3), { binary: false, fin: true });
    },
    binary: false,
    want: clef
  },
  {
    name: 'fragmented-binary',
    send: (ws) => {
      ws.send(byteRange.subarray(0, 100), { fin: false });
      ws.send(byteRange.subarray(100, 200), { fin: false });
      ws.send(byteRange.subarray(200), { fin: true });
    },
    binary: true,
    want: byteRange
  }
];

function finish() {
  process.stdout.write(JSON.stringify(report) + '\n', () => process.exit(0));
}

const wsOptions = {
  perMessageDeflate: opts.deflate === '1' ? { threshold: 0 } : false,
  maxPayload: 1 << 25,
  handshakeTimeout: stepTimeout
};
if (opts.origin) wsOptions.origin = opts.origin;
const protocols = opts.protocols ? opts.protocols.split(',') : [];

const ws = new WebSocket(url, protocols, wsOptions);

// Incoming messages and events, consumed in order by the steps.
const queue = [];
let waiter = null;
let closed = null; // {code, reason} once the 'close' event fired
let closeWaiters = [];
let pongWaiter = null;

function wake() {
  if (waiter) {
    const w = waiter;
    waiter = null;
    w();
  }
}

ws.on('upgrade', (res) => {
  report.extensions = res.headers['sec-websocket-extensions'] || '';
});
ws.on('message', (data, isBinary) => {
  queue.push({ binary: isBinary, data: Buffer.isBuffer(data) ? data : Buffer.concat(data) });
  wake();
});
ws.on('pong', (data) => {
  if (pongWaiter) pongWaiter(data);
});
ws.on('close', (code, reason) => {
  closed = { code: code, reason: reason.toString() };
  report.close_code = code;
  report.close_reason = closed.reason;
  wake();
  for (const w of closeWaiters) w();
  closeWaiters = [];
});
ws.on('error', (err) => {
  if (!report.error) report.error = String(err && err.message ? err.message : err);
  wake();
});

function nextMessage() {
  return new Promise((resolve) => {
    const deadline = setTimeout(() => {
      waiter = null;
      resolve({ timeout: true });
    }, stepTimeout);
    const check = () => {
      if (queue.length > 0) {
        clearTimeout(deadline);
        resolve(queue.shift());
      } else if (closed) {
        clearTimeout(deadline);
        resolve({ closed: true });
      } else {
        waiter = check;
      }
    };
    check();
  });
}

function waitClosed() {
  return new Promise((resolve) => {
    if (closed) return resolve(true);
    const deadline = setTimeout(() => resolve(false), stepTimeout);
    closeWaiters.push(() => {
      clearTimeout(deadline);
      resolve(true);
    });
  });
}

function connectionGone() {
  return 'connection closed by server (code ' + closed.code + ' reason ' + JSON.stringify(closed.reason) + ')';
}

async function runEcho() {
  let broken = '';
  for (const step of steps) {
    if (broken) {
      report.echoes.push({ name: step.name, ok: false, detail: 'not run: ' + broken });
      continue;
    }
    step.send(ws);
    const got = await nextMessage();
    if (got.timeout) {
      broken = 'timeout in step ' + step.name;
      report.echoes.push({ name: step.name, ok: false, detail: 'no echo within ' + stepTimeout + 'ms' });
    } else if (got.closed) {
      broken = connectionGone();
      report.echoes.push({ name: step.name, ok: false, detail: broken });
    } else if (got.binary !== step.binary || !got.data.equals(step.want)) {
      report.echoes.push({
        name: step.name,
        ok: false,
        detail: 'got ' + describe(got.binary, got.data) + ', want ' + describe(step.binary, step.want)
      });
    } else {
      report.echoes.push({ name: step.name, ok: true, detail: describe(got.binary, got.data) });
    }
  }

  if (!broken) {
    const pong = await new Promise((resolve) => {
      const deadline = setTimeout(() => resolve(null), stepTimeout);
      pongWaiter = (data) => {
        clearTimeout(deadline);
        resolve(data);
      };
      ws.ping('p1');
    });
    pongWaiter = null;
    if (pong !== null) {
      report.pong_payload = pong.toString();
      report.pong = report.pong_payload === 'p1';
    }
  }

  // Anything the server sent that no step asked for.
  const extra = queue.length;
  report.echoes.push({
    name: 'no-unexpected-messages',
    ok: extra === 0,
    detail: extra === 0 ? '' : extra + ' unexpected message(s), first: ' + describe(queue[0].binary, queue[0].data)
  });

  if (!closed) {
    ws.close(4001, 'bye now');
    if (!(await waitClosed())) {
      if (!report.error) report.error = 'no close from server within ' + stepTimeout + 'ms';
      ws.terminate();
    }
  }
}

async function runServerClose() {
  ws.send('close-me 4002 going');
  if (!(await waitClosed())) {
    report.error = 'server did not close within ' + stepTimeout + 'ms';
    ws.terminate();
  }
  if (queue.length > 0) {
    report.echoes.push({
      name: 'no-unexpected-messages',
      ok: false,
      detail: queue.length + ' unexpected message(s), first: ' + describe(queue[0].binary, queue[0].data)
    });
  }
}

let opened = false;
ws.on('open', () => {
  opened = true;
  report.protocol = ws.protocol || '';
  const run = opts.mode === 'server-close' ? runServerClose : runEcho;
  run().then(finish, (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(2);
  });
});

// A failed handshake fires 'error' (recorded above) and then 'close' without
// 'open' ever firing.
ws.on('close', () => {
  if (!opened) {
    report.error = 'handshake failed: ' + (report.error || 'connection closed');
    finish();
  }
});
