#!/usr/bin/env python3
"""A TCP proxy that cuts connections at random byte offsets (the chaos script's network).

Each new connection is, with probability --cut, given a random offset (log-uniform between
--min and --max server->client bytes) at which both sides are closed mid-stream. Seeded, so a
chaos run can be repeated. Prints one line per cut to stderr.
"""

import argparse
import asyncio
import math
import random
import sys


async def pipe(reader, writer, budget, on_cut):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if budget is not None:
                if len(data) >= budget[0]:
                    writer.write(data[: budget[0]])
                    await writer.drain()
                    on_cut()
                    return
                budget[0] -= len(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def serve(listen, upstream, rng, args):
    cuts = [0]

    async def handle(cr, cw):
        try:
            ur, uw = await asyncio.open_connection(*upstream)
        except OSError:
            cw.close()
            return
        budget = None
        if rng.random() < args.cut:
            lo, hi = math.log(args.min), math.log(args.max)
            budget = [int(math.exp(rng.uniform(lo, hi)))]

        def on_cut():
            cuts[0] += 1
            print(f"cut after {budget and 'offset'} (#{cuts[0]})", file=sys.stderr, flush=True)
            cw.close()
            uw.close()

        await asyncio.gather(pipe(cr, uw, None, on_cut), pipe(ur, cw, budget, on_cut))

    server = await asyncio.start_server(handle, *listen)
    async with server:
        await server.serve_forever()


def hostport(s):
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=hostport, required=True)
    ap.add_argument("--upstream", type=hostport, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cut", type=float, default=0.3, help="share of connections cut")
    ap.add_argument("--min", type=int, default=200)
    ap.add_argument("--max", type=int, default=4_000_000)
    a = ap.parse_args()
    try:
        asyncio.run(serve(a.listen, a.upstream, random.Random(a.seed), a))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
