#!/usr/bin/env python3
"""bench/sse.py: the event stream's fan-out figure.

Starts the upstream double and taskgate (poll 0.2 s) on free loopback
ports, connects N clients to GET /api/events, waits for every snapshot,
changes a task in the double, and times the `stream` event's arrival at
each client.  Prints delivery p50/p99 counted from the change (this
includes up to one poll interval) and counted from the first client's
arrival (the fan-out itself), and taskgate's RSS with N clients.
Usage: bench/sse.py [N]  (default 1000)
"""

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import harness  # noqa: E402


async def client(port, ready, arrived, index):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    snapshot_seen = False
    while True:
        line = await reader.readline()
        if not line:
            return
        if line.startswith(b"event: snapshot") and not snapshot_seen:
            snapshot_seen = True
            ready.release()
        elif line.startswith(b"event: stream") and snapshot_seen:
            arrived[index] = time.monotonic()
            writer.close()
            return


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def run(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    double = harness.Double().start()
    tg = harness.Taskgate(double.url, args=["--poll", "0.2"]).start()
    try:
        time.sleep(0.5)
        ready = asyncio.Semaphore(0)
        arrived = [None] * n
        tasks = [asyncio.create_task(client(tg.port, ready, arrived, i)) for i in range(n)]
        for _ in range(n):
            await asyncio.wait_for(ready.acquire(), 60)
        rss = rss_kib(tg.proc.pid)
        changed = time.monotonic()
        double.set_task("B2", status="completed")
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        got = [t for t in arrived if t is not None]
        first = min(got)
        after_change = [(t - changed) * 1000 for t in got]
        fan_out = [(t - first) * 1000 for t in got]
        print("%-52s %s" % ("figure", "value"))
        print("%-52s %d of %d" % ("SSE clients that got the event", len(got), n))
        print("%-52s %.1f / %.1f ms" % ("delivery p50 / p99 after the change (incl. poll)",
                                        percentile(after_change, 50), percentile(after_change, 99)))
        print("%-52s %.1f / %.1f ms" % ("delivery p50 / p99 after the first client",
                                        percentile(fan_out, 50), percentile(fan_out, 99)))
        print("%-52s %.1f MiB" % ("taskgate RSS with %d clients" % n, rss / 1024.0))
    finally:
        tg.close()
        double.close()


if __name__ == "__main__":
    harness.skip_unless_binary()
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
