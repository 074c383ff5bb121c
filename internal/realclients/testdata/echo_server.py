"""Reference WebSocket echo server for the realclients tests (Python websockets 10.x).

Listens on 127.0.0.1 on a free port and prints "PORT <n>" on stdout once it is
accepting. Echoes every message. A text message "close-me <code> <reason>"
makes it close the connection with that code and reason. Any plain HTTP GET
(not a WebSocket upgrade) is answered with the file named by argv[1], if any,
so a browser page and the WebSocket endpoint share one origin. Runs until
stdin reaches EOF (the parent test exiting or closing the pipe).
"""
import asyncio
import http
import sys

import websockets

PAGE = b""
if len(sys.argv) > 1:
    with open(sys.argv[1], "rb") as f:
        PAGE = f.read()


async def process_request(path, headers):
    if headers.get("Upgrade", "").lower() == "websocket":
        return None
    return (
        http.HTTPStatus.OK,
        [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
        PAGE,
    )


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


async def main():
    server = await websockets.serve(
        echo,
        "127.0.0.1",
        0,
        max_size=2**25,
        ping_interval=None,
        process_request=process_request,
    )
    port = server.sockets[0].getsockname()[1]
    print("PORT", port, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()
    await server.wait_closed()


asyncio.run(main())
