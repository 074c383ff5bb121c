"""Echo server for the client tests: Python websockets (Debian python3-websockets).

Listens on 127.0.0.1 on a free port, prints "PORT <n>" once accepting, echoes
every message, and closes with CODE REASON when sent "close-me CODE REASON".
Speaks the subprotocol "chat.v1" when offered. Runs until stdin reaches EOF.

The optional argument is JSON: {"deflate": {...}} configures permessage-deflate
with these ServerPerMessageDeflateFactory arguments instead of websockets'
default (compression="deflate": both windows limited to 12 bits, context
takeover both ways); {"deflate": null} disables it.
"""
import asyncio
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
        pass


async def main():
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    kwargs = {}
    if "deflate" in config:
        kwargs["compression"] = None
        if config["deflate"] is not None:
            kwargs["extensions"] = [ServerPerMessageDeflateFactory(**config["deflate"])]
    server = await websockets.serve(
        echo, "127.0.0.1", 0, max_size=2**25, ping_interval=None, subprotocols=["chat.v1"], **kwargs
    )
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()
    await server.wait_closed()


asyncio.run(main())
