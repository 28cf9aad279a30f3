# SPDX-License-Identifier: MIT
"""The client case's aiohttp peer (bench/run http): N GETs at concurrency C over one
ClientSession (TCPConnector(limit=C)), each body read, on uvloop; prints
"requests=N ok=N wall=S". Run with Debian's /usr/bin/python3."""
import argparse
import asyncio
import time

import aiohttp
import uvloop


async def main(url, n, c):
    ok = 0
    left = n

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as s:
        async def worker():
            nonlocal ok, left
            while left > 0:
                left -= 1
                async with s.get(url) as r:
                    body = await r.read()
                    if r.status == 200 and body:
                        ok += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(c)))
        wall = time.perf_counter() - t0
    print(f"requests={n} ok={ok} wall={wall:.3f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=100)
    a = ap.parse_args()
    uvloop.install()
    asyncio.run(main(a.url, a.requests, a.concurrency))
