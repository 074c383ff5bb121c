"""Drives the Python "websockets" client (Debian python3-websockets, 10.x)
against a WebSocket echo server and prints one JSON report on stdout.
Embedded into the Go package internal/realclients; see RunPython there.

Usage: /usr/bin/python3 python_client.py [flags] URL
  --mode=echo|server-close   (default echo)
  --deflate=0|1              offer permessage-deflate (default 0)
  --origin=URL               send this Origin header
  --protocols=a,b            offer these subprotocols
  --step-timeout-ms=N        per-step timeout (default 10000)

Exits 0 whenever it could print a report (failed checks included); a non-zero
exit means the script itself crashed.
"""
import argparse
import asyncio
import hashlib
import json
import os
import sys

import websockets

parser = argparse.ArgumentParser()
parser.add_argument("--mode", default="echo", choices=["echo", "server-close"])
parser.add_argument("--deflate", default="0", choices=["0", "1"])
parser.add_argument("--origin", default="")
parser.add_argument("--protocols", default="")
parser.add_argument("--step-timeout-ms", type=int, default=10000)
parser.add_argument("url")
args = parser.parse_args()
STEP_TIMEOUT = args.step_timeout_ms / 1000.0

report = {
    "client": "python-websockets " + websockets.__version__,
    "mode": args.mode,
    "echoes": [],
    "pong": False,
    "pong_payload": "",
    "close_code": 0,
    "close_reason": "",
    "extensions": "",
    "protocol": "",
    "error": "",
}


def as_bytes(msg):
    return msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)


def describe(msg):
    b = as_bytes(msg)
    kind = "text" if isinstance(msg, str) else "binary"
    return "%s len=%d sha256=%s" % (kind, len(b), hashlib.sha256(b).hexdigest()[:16])


def big_text():
    """Exactly 1<<20 bytes of valid UTF-8 mixing 1- to 4-byte sequences."""
    unit = "héllo wörld ✓ 𝄞 "
    n = (1 << 20) // len(unit.encode("utf-8"))
    s = unit * n
    return s + "x" * ((1 << 20) - len(s.encode("utf-8")))


BYTE_RANGE = bytes(range(256))
BIG_BINARY = os.urandom(1 << 20)
BIG_TEXT = big_text()


async def binary_fragments():
    for i in range(0, 256, 100):
        yield BYTE_RANGE[i : i + 100]


# (name, what to pass to ws.send, expected echo). Python's websockets sends a
# list/iterable (sync or async) as one fragmented message, one frame per item.
STEPS = [
    ("text", "hello", "hello"),
    ("utf8-text", "héllo wörld ✓ 𝄞", "héllo wörld ✓ 𝄞"),
    ("binary-0-255", BYTE_RANGE, BYTE_RANGE),
    ("empty-text", "", ""),
    ("empty-binary", b"", b""),
    ("1mib-binary", BIG_BINARY, BIG_BINARY),
    ("1mib-text", BIG_TEXT, BIG_TEXT),
    ("fragmented-text", ["frag-1 ", "frag-2 ", "frag-3"], "frag-1 frag-2 frag-3"),
    ("fragmented-binary", binary_fragments, BYTE_RANGE),
]


def record_close(ws):
    code = ws.close_code
    if code is not None:
        report["close_code"] = code
        report["close_reason"] = ws.close_reason or ""


def gone(ws):
    record_close(ws)
    return "connection closed by server (code %s reason %s)" % (
        report["close_code"],
        json.dumps(report["close_reason"]),
    )


async def run_echo(ws):
    broken = ""
    for name, payload, want in STEPS:
        if broken:
            report["echoes"].append({"name": name, "ok": False, "detail": "not run: " + broken})
            continue
        try:
            await ws.send(payload() if callable(payload) else payload)
            got = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            broken = "timeout in step " + name
            report["echoes"].append(
                {"name": name, "ok": False, "detail": "no echo within %gs" % STEP_TIMEOUT}
            )
            continue
        except websockets.ConnectionClosed:
            await ws.wait_closed()
            broken = gone(ws)
            report["echoes"].append({"name": name, "ok": False, "detail": broken})
            continue
        # str == bytes is False, so this also checks text vs binary.
        if got == want:
            report["echoes"].append({"name": name, "ok": True, "detail": describe(got)})
        else:
            report["echoes"].append(
                {
                    "name": name,
                    "ok": False,
                    "detail": "got %s, want %s" % (describe(got), describe(want)),
                }
            )

    if not broken:
        try:
            # The waiter resolves only on a pong carrying this exact payload.
            waiter = await ws.ping(b"p1")
            await asyncio.wait_for(waiter, STEP_TIMEOUT)
            report["pong"] = True
            report["pong_payload"] = "p1"
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            pass

    # Anything the server sent that no step asked for.
    extra = []
    while ws.messages:
        extra.append(ws.messages.popleft())
    report["echoes"].append(
        {
            "name": "no-unexpected-messages",
            "ok": not extra,
            "detail": "%d unexpected message(s), first: %s" % (len(extra), describe(extra[0]))
            if extra
            else "",
        }
    )

    try:
        await asyncio.wait_for(ws.close(4001, "bye now"), STEP_TIMEOUT)
    except asyncio.TimeoutError:
        report["error"] = "no close from server within %gs" % STEP_TIMEOUT
    record_close(ws)


async def run_server_close(ws):
    await ws.send("close-me 4002 going")
    extra = []

    async def drain():
        try:
            async for msg in ws:
                extra.append(msg)
        except websockets.ConnectionClosed:
            pass

    try:
        await asyncio.wait_for(drain(), STEP_TIMEOUT)
    except asyncio.TimeoutError:
        report["error"] = "server did not close within %gs" % STEP_TIMEOUT
    await ws.close()
    record_close(ws)
    if extra:
        report["echoes"].append(
            {
                "name": "no-unexpected-messages",
                "ok": False,
                "detail": "%d unexpected message(s), first: %s" % (len(extra), describe(extra[0])),
            }
        )


async def main():
    kwargs = dict(
        compression="deflate" if args.deflate == "1" else None,
        max_size=2**25,
        ping_interval=None,
        open_timeout=STEP_TIMEOUT,
        close_timeout=STEP_TIMEOUT,
    )
    if args.origin:
        kwargs["origin"] = args.origin
    if args.protocols:
        kwargs["subprotocols"] = args.protocols.split(",")
    try:
        ws = await websockets.connect(args.url, **kwargs)
    except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
        report["error"] = "handshake failed: %s: %s" % (type(e).__name__, e)
        report["close_code"] = 1006
        return
    report["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions", "")
    report["protocol"] = ws.subprotocol or ""
    try:
        if args.mode == "server-close":
            await run_server_close(ws)
        else:
            await run_echo(ws)
    finally:
        if ws.close_code is None:
            ws.transport.abort()


asyncio.run(main())
sys.stdout.write(json.dumps(report) + "\n")
sys.stdout.flush()
