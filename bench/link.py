"""A network link between a client and an upstream registry on this machine: a TCP proxy that
delays every byte by a one-way latency and passes responses at most at a shared bandwidth, so
that a mirror can be measured as it is used, with its upstream across a network, and not only
against an upstream that answers from the page cache at memory speed."""
import queue
import socket
import threading
import time

CHUNK = 64 << 10


class TokenBucket:
    """Bandwidth shared by every connection of the link, as on a real line."""

    def __init__(self, rate):
        self.rate = rate
        self.lock = threading.Lock()
        self.next_free = time.monotonic()

    def wait(self, nbytes):
        with self.lock:
            start = max(self.next_free, time.monotonic())
            self.next_free = start + nbytes / self.rate
        delay = self.next_free - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class Link:
    def __init__(self, target_port, rate, one_way_delay):
        self.target_port = target_port
        self.delay = one_way_delay
        self.bucket = TokenBucket(rate)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.last_activity = time.monotonic()
        threading.Thread(target=self._accept, daemon=True).start()

    def wait_idle(self, quiet=0.3, timeout=60):
        """Returns once no byte has crossed the link for `quiet` seconds: a transfer a mirror
        goes on with after its client left (registry:2's proxy does) must not share the line
        with the next measurement."""
        deadline = time.monotonic() + timeout
        while time.monotonic() - self.last_activity < quiet and time.monotonic() < deadline:
            time.sleep(0.05)

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pipe(client, upstream, None)
            self._pipe(upstream, client, self.bucket)

    def _pipe(self, source, sink, bucket):
        """Bytes from source reach sink `delay` after they left, no faster than the bucket."""
        pending = queue.Queue()

        def read():
            while True:
                try:
                    data = source.recv(CHUNK)
                except OSError:
                    data = b""
                pending.put((time.monotonic(), data))
                if not data:
                    return

        def write():
            while True:
                sent_at, data = pending.get()
                wait = sent_at + self.delay - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    try:
                        sink.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                self.last_activity = time.monotonic()
                if bucket:
                    bucket.wait(len(data))
                try:
                    sink.sendall(data)
                except OSError:
                    return

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()

    def stop(self):
        self.closed = True
        self.listener.close()
