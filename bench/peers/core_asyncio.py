# SPDX-License-Identifier: MIT
"""The core benchmark cases of bench/core.cpp, on CPython asyncio or uvloop.

One case per process (a fresh interpreter per figure, as bench/run does); each case
runs once untimed first, except pending_task_memory, which measures fresh memory:

    /usr/bin/python3 bench/peers/core_asyncio.py --loop uvloop --case gather --n 100000

Prints one JSON line: {"case", "loop", "n", "ops", "cpu_s", "wall_s", "cpu_ns_per_op",
"wall_ns_per_op"} and, for pending_task_memory, "bytes_per_task". CPU time is the
process's (time.process_time); the garbage collector stays on, as in a real program.
"""
import argparse
import asyncio
import json
import os
import sys
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


async def trivial():
    return 1


async def noop():
    await asyncio.sleep(0)


async def case_create_await(n):
    # Create n tasks that return at once, then await each of them.
    tasks = [asyncio.create_task(trivial()) for _ in range(n)]
    for t in tasks:
        await t
    return n


async def case_gather(n):
    # gather of n coroutines that each yield once (asyncio.sleep(0)).
    await asyncio.gather(*[noop() for _ in range(n)])
    return n


async def case_call_soon(n):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    count = 0

    def cb():
        nonlocal count
        count += 1
        if count == n:
            done.set_result(None)

    for _ in range(n):
        loop.call_soon(cb)
    await done
    return n


async def case_sleep0_pingpong(n):
    # Two tasks taking turns through the ready queue, n switches in all.
    async def player(k):
        for _ in range(k):
            await asyncio.sleep(0)

    await asyncio.gather(player(n // 2), player(n // 2))
    return n


async def case_timers(n):
    # Schedule n timers (spread over 1000 s) and cancel them all: one op = add + cancel.
    loop = asyncio.get_running_loop()
    hs = [loop.call_later(1 + (i % 1000), int) for i in range(n)]
    for h in hs:
        h.cancel()
    return n


async def case_pending_task_memory(n):
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    async def waiter():
        await fut

    import gc
    gc.collect()
    rss0 = rss_bytes()
    tasks = [loop.create_task(waiter()) for _ in range(n)]
    await asyncio.sleep(0)  # every task runs to its first suspension point
    gc.collect()
    rss1 = rss_bytes()
    fut.set_result(None)
    await asyncio.gather(*tasks)
    return {"bytes_per_task": (rss1 - rss0) / n}


CASES = {
    "create_await": case_create_await,
    "gather": case_gather,
    "call_soon": case_call_soon,
    "sleep0_pingpong": case_sleep0_pingpong,
    "timers": case_timers,
    "pending_task_memory": case_pending_task_memory,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    ap.add_argument("--case", choices=sorted(CASES), required=True)
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    fn = CASES[args.case]
    if args.case != "pending_task_memory":
        asyncio.run(fn(args.n))  # warm-up, as bench/core.cpp does: steady-state figures
    c0, w0 = time.process_time(), time.perf_counter()
    extra = asyncio.run(fn(args.n))
    c1, w1 = time.process_time(), time.perf_counter()
    out = {"case": args.case, "loop": args.loop, "n": args.n, "ops": args.n,
           "cpu_s": c1 - c0, "wall_s": w1 - w0,
           "cpu_ns_per_op": (c1 - c0) / args.n * 1e9, "wall_ns_per_op": (w1 - w0) / args.n * 1e9,
           "python": sys.version.split()[0]}
    if isinstance(extra, dict):
        out.update(extra)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
