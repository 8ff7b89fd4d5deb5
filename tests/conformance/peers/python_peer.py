"""A reference peer for the conformance harness: Python `websockets` (Debian's 10.4) as an
echo server or an echo client, permessage-deflate on (its defaults), no size limit, no
keepalive pings (they would be events the cases do not expect).

    python_peer.py server        prints "listening on ws://127.0.0.1:PORT", echoes until killed
    python_peer.py client URL    echoes every message until the server closes; exit status
                                 0 after a clean close, 1 otherwise (like `syncws echo-client`)
"""

import asyncio
import sys

import websockets

OPTIONS = dict(max_size=None, compression="deflate", ping_interval=None)


async def echo(ws, path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def serve():
    async with websockets.serve(echo, "127.0.0.1", 0, **OPTIONS) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}/", flush=True)
        await asyncio.Future()


async def client(url):
    try:
        async with websockets.connect(url, **OPTIONS) as ws:
            async for message in ws:
                await ws.send(message)
    except websockets.ConnectionClosedOK:
        return 0
    except Exception as e:  # noqa: BLE001 - any failure is reported the same way
        print(f"python_peer: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["server"]:
        asyncio.run(serve())
    elif sys.argv[1:2] == ["client"] and len(sys.argv) == 3:
        sys.exit(asyncio.run(client(sys.argv[2])))
    else:
        sys.exit(__doc__)
