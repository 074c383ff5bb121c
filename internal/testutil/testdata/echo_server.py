"""Reference echo server for the tests: Python websockets 10.x (Debian python3-websockets).

Listens on 127.0.0.1 on a free port, prints "PORT <n>" on stdout once it is
accepting, and echoes every message. A text message "close-me <code> <reason>"
makes it close the connection with that code and reason. Speaks the
subprotocol "chat.v1" when offered. Runs until stdin reaches EOF (the parent
test exiting or closing the pipe).

The optional argument is JSON:
  {"deflate": {...}} configures permessage-deflate with these
      ServerPerMessageDeflateFactory arguments instead of websockets' default
      (compression="deflate": both windows limited to 12 bits, context
      takeover both ways); {"deflate": null} disables it.
  {"page": "file"} answers any plain HTTP GET (not a WebSocket upgrade) with
      the file ("" : an empty page), so that a browser page and the WebSocket
      endpoint share one origin.
"""
import asyncio
import http
import json
import sys

import websockets
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory


async def echo(ws, path):
    try:
        async for msg in ws:
            if isinstance(msg, str) and msg.startswith("close-me "):
                _, code, reason = msg.split(" ", 2)
                await ws.close(int(code), reason)
                return
            await ws.send(msg)
    except websockets.ConnectionClosed:
        pass  # a close with a code other than 1000/1001 lands here


def page_server(page):
    async def process_request(path, headers):
        if headers.get("Upgrade", "").lower() == "websocket":
            return None
        return (
            http.HTTPStatus.OK,
            [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
            page,
        )

    return process_request


async def main():
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    kwargs = {}
    if "deflate" in config:
        kwargs["compression"] = None
        if config["deflate"] is not None:
            kwargs["extensions"] = [ServerPerMessageDeflateFactory(**config["deflate"])]
    if "page" in config:
        page = b""
        if config["page"]:
            with open(config["page"], "rb") as f:
                page = f.read()
        kwargs["process_request"] = page_server(page)
    server = await websockets.serve(
        echo, "127.0.0.1", 0, max_size=2**25, ping_interval=None, subprotocols=["chat.v1"], **kwargs
    )
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()
    await server.wait_closed()


asyncio.run(main())
