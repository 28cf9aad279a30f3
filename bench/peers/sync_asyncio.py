# SPDX-License-Identifier: MIT
"""The sync/executors benchmark cases of bench/sync.cpp, on CPython asyncio or uvloop.

    /usr/bin/python3 bench/peers/sync_asyncio.py --loop uvloop --case queue_1M_4x4

One case per process; it runs once untimed, then timed. Prints one JSON line with
"ops", CPU and wall time per operation (the executor cases also use other threads or
processes, so their wall time is the figure to compare).
"""
import argparse
import asyncio
import concurrent.futures
import json
import sys
import time


async def lock_uncontended(n):
    lock = asyncio.Lock()
    for _ in range(n):
        async with lock:
            pass
    return n


async def lock_contended(n):
    # 10 tasks take turns: each holds the lock across a yield, so the others queue.
    lock = asyncio.Lock()
    per = n // 10

    async def worker():
        for _ in range(per):
            async with lock:
                await asyncio.sleep(0)

    await asyncio.gather(*[worker() for _ in range(10)])
    return per * 10


async def semaphore_1000_waiters(n):
    # 1000 tasks share 10 permits, each holding one across a yield.
    sem = asyncio.Semaphore(10)
    per = n // 1000

    async def worker():
        for _ in range(per):
            async with sem:
                await asyncio.sleep(0)

    await asyncio.gather(*[worker() for _ in range(1000)])
    return per * 1000


async def queue_1M_4x4(n):
    # 4 producers, 4 consumers, a bounded queue; a sentinel per consumer ends it.
    q = asyncio.Queue(maxsize=1000)
    per = n // 4

    async def producer():
        for i in range(per):
            await q.put(i)

    async def consumer():
        got = 0
        while True:
            item = await q.get()
            if item is None:
                return got
            got += 1

    consumers = [asyncio.create_task(consumer()) for _ in range(4)]
    await asyncio.gather(*[producer() for _ in range(4)])
    for _ in range(4):
        await q.put(None)
    total = sum(await asyncio.gather(*consumers))
    assert total == per * 4
    return total


def trivial(x=0):
    return x + 1


async def to_thread_roundtrip(n):
    for i in range(n):
        await asyncio.to_thread(trivial, i)
    return n


POOL = None


async def process_pool_roundtrip(n):
    loop = asyncio.get_running_loop()
    for i in range(n):
        await loop.run_in_executor(POOL, trivial, i)
    return n


CASES = {f.__name__: f for f in (lock_uncontended, lock_contended, semaphore_1000_waiters,
                                  queue_1M_4x4, to_thread_roundtrip, process_pool_roundtrip)}


def main():
    global POOL
    ap = argparse.ArgumentParser()
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    ap.add_argument("--case", choices=sorted(CASES), required=True)
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if args.case == "process_pool_roundtrip":
        POOL = concurrent.futures.ProcessPoolExecutor(max_workers=1)
    fn = CASES[args.case]
    asyncio.run(fn(args.n))  # warm-up (threads and worker processes started)
    c0, w0 = time.process_time(), time.perf_counter()
    ops = asyncio.run(fn(args.n))
    c1, w1 = time.process_time(), time.perf_counter()
    if POOL:
        POOL.shutdown()
    print(json.dumps({"case": args.case, "loop": args.loop, "n": args.n, "ops": ops,
                      "cpu_s": c1 - c0, "wall_s": w1 - w0,
                      "cpu_ns_per_op": (c1 - c0) / ops * 1e9, "wall_ns_per_op": (w1 - w0) / ops * 1e9,
                      "python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
