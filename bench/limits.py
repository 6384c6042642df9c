"""The physical limits of this machine, measured in the same run as the servers: what one core
hashes with SHA-256, what the disk takes in a plain sequential write, and what a bare
sendfile(2) loop pushes through loopback to the benchmark's own client."""
import os
import re
import socket
import subprocess
import sys
import threading
import time


def sha256_one_core_mbps(seconds=2):
    """`openssl speed -evp sha256` on 1 MiB blocks: the hardware path (SHA-NI/AVX2) on one core."""
    out = subprocess.run(
        ["openssl", "speed", "-evp", "sha256", "-bytes", str(1 << 20), "-seconds", str(seconds)],
        capture_output=True, text=True, check=True).stdout
    match = re.search(r"^sha256\s+([\d.]+)k\s*$", out, re.MULTILINE)
    if not match:
        raise RuntimeError(f"cannot read openssl speed output:\n{out}")
    return float(match.group(1)) * 1000 / 1e6


def ready_for_writes(directory, size):
    """Readies the machine for a measurement that writes `size` bytes: no dirty pages waiting
    for the disk (so that none pays for the writeback of what came before), and `size` bytes of
    memory freed a moment ago for the page cache that the writes are about to take.

    On this kind of VM the balloon driver hands memory that has been free for about 2 s back
    to the host (virtio_balloon free page reporting), and the first write into such memory
    costs a host fault per page: 410-500 MB/s for new page cache, against 4,000 MB/s into
    memory freed a moment ago (`dd` of 256 MiB, measured here). Every push writes as much new
    page cache as it receives, so without this both registries would be capped by the
    hypervisor, and whichever ran right after something freed memory would be fast (the first
    version of this harness gave that edge to the push that followed `dd`). Writing a scratch
    file and deleting it before the dirty pages are written back costs no disk I/O."""
    os.sync()
    scratch = os.path.join(directory, "warm-memory.scratch")
    block = bytes(1 << 20)
    with open(scratch, "wb") as f:
        for _ in range(0, size, len(block)):
            f.write(block)
    os.remove(scratch)


def disk_write_mbps(source, directory):
    """`dd` of the page-cached source to a new file on the servers' disk, no fsync — the same
    durability both registries give a blob — into warm memory, as every push is."""
    target = os.path.join(directory, "dd.out")
    size = os.path.getsize(source)
    ready_for_writes(directory, 2 * size)  # as before each push
    start = time.perf_counter()
    subprocess.run(["dd", f"if={source}", f"of={target}", "bs=1M", "status=none"], check=True)
    elapsed = time.perf_counter() - start
    os.remove(target)
    return size / elapsed / 1e6


class SendfileServer:
    """Answers every request on a keep-alive connection with the whole file, sent by
    sendfile(2) in one blocking loop: the least work any server can do to serve a blob. It runs
    in its own process, as the registries do, so that it shares no process (and no GIL) with
    the client."""

    def __init__(self, path):
        self.size = os.path.getsize(path)
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve", path],
                                        stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())

    def stop(self):
        self.process.terminate()
        self.process.wait()


def serve(path):
    size = os.path.getsize(path)
    parent = os.getppid()

    def exit_with_parent():  # a harness that dies without stopping us must not leave us behind
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(listener.getsockname()[1], flush=True)

    def connection(conn):
        with conn, open(path, "rb") as f:
            pending = b""
            while True:
                while b"\r\n\r\n" not in pending:
                    data = conn.recv(65536)
                    if not data:
                        return
                    pending += data
                _, pending = pending.split(b"\r\n\r\n", 1)
                conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
                offset = 0
                while offset < size:
                    offset += os.sendfile(conn.fileno(), f.fileno(), offset, size - offset)

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=connection, args=(conn,), daemon=True).start()


class NginxServer:
    """nginx serving the manifest's bytes as a static file at the registry's own path: the least
    work any HTTP server on this machine does for a small response, the limit of the manifest
    rows. One worker per CPU, keep-alive, no access log, the OCI media type as Content-Type."""

    def __init__(self, directory, paths, body, media_type):
        self.directory = directory
        root = os.path.join(directory, "root")
        for path in paths:
            target = os.path.join(root, path.lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(body)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        listener.close()
        config = os.path.join(directory, "nginx.conf")
        with open(config, "w") as f:
            f.write(f"""daemon off;
worker_processes auto;
user root;
pid {directory}/nginx.pid;
error_log {directory}/error.log error;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        root {root};
        default_type {media_type};
        types {{ }}
    }}
}}
""")
        self.process = subprocess.Popen(["nginx", "-c", config, "-p", directory],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.process.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        self.process.terminate()  # nginx's master stops its workers on SIGTERM
        self.process.wait()


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(sys.argv[2])
