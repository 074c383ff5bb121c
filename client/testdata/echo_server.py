"""Echo server for the client tests: Python websockets (Debian python3-websockets).

Listens on 127.0.0.1 on a free port, prints "PORT <n>" once accepting, echoes
every message, and closes with CODE REASON when sent "close-me CODE REASON".
Speaks the subprotocol "chat.v1" when offered. Runs until stdin reaches EOF.
"""
import asyncio
import sys

import websockets


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
    server = await websockets.serve(
        echo, "127.0.0.1", 0, max_size=2**25, ping_interval=None, subprotocols=["chat.v1"]
    )
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()
    await server.wait_closed()


asyncio.run(main())
