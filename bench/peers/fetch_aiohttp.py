# SPDX-License-Identifier: MIT
"""The fetch suite's peer (bench/run fetch): the asyncio guides' concurrent fetcher —
one shared aiohttp ClientSession, a semaphore of C, every URL fetched and its body read,
one result line per URL written as it completes (as aio-fetch's JSON lines), on uvloop.

    python3 fetch_aiohttp.py --input urls.txt --concurrency 100 > results.jsonl
Run with Debian's /usr/bin/python3."""
import argparse
import asyncio
import json
import sys
import time

import aiohttp
import uvloop


async def fetch(session, sem, url, out):
    async with sem:
        t0 = time.perf_counter()
        status, size, error = None, 0, None
        try:
            async with session.get(url) as r:
                body = await r.read()
                status, size = r.status, len(body)
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            error = str(e)
        out.write(json.dumps({"url": url, "status": status, "bytes": size,
                              "elapsed": round(time.perf_counter() - t0, 4), "attempts": 1,
                              "error": error}) + "\n")
        return status is not None and status < 400


async def main(urls, c):
    sem = asyncio.Semaphore(c)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=c)) as session:
        oks = await asyncio.gather(*(fetch(session, sem, u, sys.stdout) for u in urls))
    sys.stdout.flush()
    return all(oks)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--concurrency", type=int, default=100)
    a = ap.parse_args()
    with open(a.input) as f:
        urls = [line.strip() for line in f if line.strip()]
    uvloop.install()
    sys.exit(0 if asyncio.run(main(urls, a.concurrency)) else 1)
