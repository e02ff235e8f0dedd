#!/usr/bin/env python3
"""A TCP proxy that delays every byte by a fixed time in each direction.

The kernel here has no netem, so latency is added in user space: each chunk read from one side
is written to the other side DELAY ms later, in order. Bandwidth is not limited (chunks keep
flowing while earlier ones wait), so this models a long path, not a slow one. Reading pauses
when too much is queued or the peer's socket buffer is full, so memory stays bounded.

    delay_proxy.py --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT --delay-ms 10

Prints "ready PORT" on stdout once listening (PORT is the real one when 0 was asked).
"""

import argparse
import asyncio
import collections
import socket
import sys

HIGH_WATER = 8 * 1024 * 1024  # queued bytes per direction before reading pauses


class Pipe(asyncio.Protocol):
    """One side of a proxied connection. `peer` is the Pipe of the other side."""

    def __init__(self, delay):
        self.delay = delay
        self.transport = None
        self.peer = None
        self.queue = collections.deque()  # (due, bytes) to write to the peer
        self.queued = 0
        self.timer = None
        self.eof = False  # our side closed; close the peer once the queue is empty
        self.peer_full = False

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        loop = asyncio.get_running_loop()
        self.queue.append((loop.time() + self.delay, data))
        self.queued += len(data)
        if self.queued > HIGH_WATER:
            self.transport.pause_reading()
        self._arm()

    def connection_lost(self, exc):
        self.eof = True
        self._arm()

    def _arm(self):
        if self.timer is not None or self.peer is None or self.peer.transport is None:
            return
        loop = asyncio.get_running_loop()
        if self.queue:
            self.timer = loop.call_at(self.queue[0][0], self._flush)
        elif self.eof:
            self._close_peer()

    def _flush(self):
        self.timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        peer = self.peer.transport
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            self.queued -= len(data)
            if not peer.is_closing():
                peer.write(data)
        if self.queued <= HIGH_WATER // 2 and not self.peer_full and not self.transport.is_closing():
            self.transport.resume_reading()
        self._arm()

    def _close_peer(self):
        # IMAP has no use for half-closed connections: one side gone ends both (close()
        # still sends what is buffered).
        self.peer.transport.close()

    # Flow control from our own transport: the peer reading from us is slow.
    def pause_writing(self):
        self.peer.peer_full = True
        if not self.peer.transport.is_closing():
            self.peer.transport.pause_reading()

    def resume_writing(self):
        self.peer.peer_full = False
        if self.peer.queued <= HIGH_WATER // 2 and not self.peer.transport.is_closing():
            self.peer.transport.resume_reading()


async def serve(listen, upstream, delay):
    loop = asyncio.get_running_loop()
    up_host, up_port = upstream

    class Client(Pipe):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.pause_reading()
            loop.create_task(self.connect_upstream())

        async def connect_upstream(self):
            try:
                _, server = await loop.create_connection(
                    lambda: Pipe(delay), up_host, up_port)
            except OSError as e:
                print("upstream connect failed: %s" % e, file=sys.stderr)
                self.transport.close()
                return
            server.peer, self.peer = self, server
            self.transport.resume_reading()
            server._arm()
            self._arm()

    srv = await loop.create_server(lambda: Client(delay), listen[0], listen[1],
                                   reuse_address=True)
    port = srv.sockets[0].getsockname()[1]
    print("ready %d" % port, flush=True)
    async with srv:
        await srv.serve_forever()


def hostport(s):
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=hostport, required=True)
    ap.add_argument("--upstream", type=hostport, required=True)
    ap.add_argument("--delay-ms", type=float, default=10.0, help="added each way")
    a = ap.parse_args()
    try:
        asyncio.run(serve(a.listen, a.upstream, a.delay_ms / 1000.0))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
