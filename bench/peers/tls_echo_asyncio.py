# SPDX-License-Identifier: MIT
"""The TLS echo server of the `tls` suite of bench/run, on CPython asyncio or uvloop:
asyncio streams with ssl=, read(102400) / write / drain — the shape of aio's stream
server (bench/echo_server.cpp --cert/--key).

    /usr/bin/python3 bench/peers/tls_echo_asyncio.py --loop uvloop --port P --cert C --key K
"""
import argparse
import asyncio
import ssl


async def handle(reader, writer):
    try:
        while True:
            data = await reader.read(102400)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    writer.close()


async def main(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server = await asyncio.start_server(handle, "127.0.0.1", args.port, ssl=ctx)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    a = ap.parse_args()
    if a.loop == "uvloop":
        import uvloop

        uvloop.install()
    try:
        asyncio.run(main(a))
    except KeyboardInterrupt:
        pass
