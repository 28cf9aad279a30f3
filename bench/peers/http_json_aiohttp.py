# SPDX-License-Identifier: MIT
"""The JSON case's peer for bench/run http: aiohttp's web.Application on uvloop, one
route GET /json answering the same document as bench/http_server.cpp with
web.json_response, access log off (run with Debian's /usr/bin/python3)."""
import argparse

import uvloop
from aiohttp import web


async def handle(request):
    return web.json_response({"message": "Hello, World!", "items": [1, 2, 3]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    app = web.Application()
    app.router.add_get("/json", handle)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
