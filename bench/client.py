"""A small HTTP/1.1 client for the benchmark.

Request bodies go out with sendfile(2) straight from a page-cached file, and response bodies
are read into one reused buffer, so the client costs as little CPU as a client can: on a
2-core machine every cycle it spends is taken from the server under test. The same client
drives both servers and the physical-limit measurements, so its cost is the same on every
side of a ratio.
"""
import socket

RECV_BUFFER = 4 << 20


class HTTPError(Exception):
    pass


class Response:
    def __init__(self, status, headers, body, length):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body  # bytes, or None when discarded
        self.length = length  # body bytes received

    def header(self, name):
        return self.headers.get(name.lower())


class Connection:
    """One keep-alive connection to 127.0.0.1:port."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""
        self.buffer = None

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, method, path, headers=None, body=None, file=None, offset=0, count=0,
                discard=False, hasher=None):
        """Sends one request and reads its response. The body is `body` (bytes) or `count`
        bytes of `file` from `offset`. With `discard` the response body is counted (and fed to
        `hasher`, if given) instead of kept."""
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        elif file is not None:
            lines.append(f"Content-Length: {count}")
        elif method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: 0")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        if body:
            self.sock.sendall(body)
        elif file is not None and count:
            sent = self.sock.sendfile(file, offset, count)
            if sent != count:
                raise HTTPError(f"sent {sent} of {count} body bytes")
        return self._read_response(method, discard, hasher)

    def _read_response(self, method, discard, hasher):
        while b"\r\n\r\n" not in self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise HTTPError("connection closed before the response head")
            self.pending += data
        head, self.pending = self.pending.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return Response(status, headers, b"", 0)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
            return Response(status, headers, None if discard else body, len(body))
        length = int(headers.get("content-length", "0"))
        if discard:
            self._discard(length, hasher)
            return Response(status, headers, None, length)
        return Response(status, headers, self._read_exactly(length), length)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise HTTPError("connection closed in the middle of a response")
        self.pending += data

    def _read_exactly(self, n):
        while len(self.pending) < n:
            self._fill()
        data, self.pending = self.pending[:n], self.pending[n:]
        return data

    def _read_chunked(self):
        body = bytearray()
        while True:
            while b"\r\n" not in self.pending:
                self._fill()
            size_line, self.pending = self.pending.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            chunk = self._read_exactly(size + 2)
            if size == 0:
                return bytes(body)
            body += chunk[:-2]

    def _discard(self, n, hasher):
        first = self.pending[:n]
        self.pending = self.pending[len(first):]
        if hasher:
            hasher.update(first)
        left = n - len(first)
        if self.buffer is None:
            self.buffer = memoryview(bytearray(RECV_BUFFER))
        while left > 0:
            got = self.sock.recv_into(self.buffer, min(left, RECV_BUFFER))
            if got == 0:
                raise HTTPError(f"connection closed with {left} body bytes still to come")
            if hasher:
                hasher.update(self.buffer[:got])
            left -= got
