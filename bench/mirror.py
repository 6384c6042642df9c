"""The pull-through mirror's workloads: Berth and registry:2 in proxy mode in front of the same
registry:2 upstream, against pulls straight from that upstream (cold) and from a local
repository (warm). New content is pushed to the upstream in every round, so every cold pull is
cold for both mirrors."""
import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from types import SimpleNamespace

from client import Connection
from link import Link
from servers import start_mirrors, start_upstream
from workloads import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, check, parallel_pulls, push_blob, random_blob, \
    sha256_digest, verify_pull

# Docker pulls three layers at a time.
PULL_STREAMS = 3
COLD_CLIENTS = 50
COLD_BLOBS = 3
FIRST_BYTE_SAMPLES = 3


def push_image(port, repo, work, layers, layer_size):
    """Random layers, a config and a manifest tagged v1; returns the layer files' digests."""
    descs = []
    for i in range(layers):
        path = os.path.join(work, f"layer-{i}")
        digest = random_blob(path, layer_size)
        push_blob(port, repo, path, digest)
        os.remove(path)
        descs.append({"mediaType": OCI_LAYER, "digest": digest, "size": layer_size})
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    path = os.path.join(work, "config")
    with open(path, "wb") as f:
        f.write(config)
    push_blob(port, repo, path, sha256_digest(config))
    os.remove(path)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
                           "layers": descs}).encode()
    with Connection(port) as c:
        r = c.request("PUT", f"/v2/{repo}/manifests/v1", headers={"Content-Type": OCI_MANIFEST}, body=manifest)
        check(r.status == 201, f"manifest push: {r.status}")
    return [d["digest"] for d in descs]


def pull_image(port, repo, size):
    """The manifest by tag, then its layers three at a time, as `docker pull` does; seconds."""
    start = time.perf_counter()
    with Connection(port) as c:
        r = c.request("GET", f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        check(r.status == 200, f"GET manifest of {repo}: {r.status}")
        layers = [d["digest"] for d in json.loads(r.body)["layers"]]

    def pull(digest):
        with Connection(port) as c:
            r = c.request("GET", f"/v2/{repo}/blobs/{digest}", discard=True)
            check(r.status == 200 and r.length == size, f"GET {digest}: {r.status}, {r.length} bytes")

    with ThreadPoolExecutor(PULL_STREAMS) as pool:
        list(pool.map(pull, layers))
    return time.perf_counter() - start


def first_byte_seconds(port, path):
    """Time from sending a GET on a new connection to its first body byte; the connection is
    then dropped."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        return first_byte(sock, path)[0]
    finally:
        sock.close()


class WarmConnection:
    """A kept-alive connection to the upstream, as each mirror keeps its own: the upstream's own
    first byte is taken on it, so that both sides of the ratio start from a warm connection (a
    new one through the link proxy answers 2–5 ms sooner than a kept one, which would tilt the
    comparison against the mirrors)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def first_byte_seconds(self, path):
        seconds, head, body = first_byte(self.sock, path)
        length = int(next(l.split(b":", 1)[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")))
        received = len(body)
        while received < length:  # the rest, so that the connection can be used again
            data = self.sock.recv(min(4 << 20, length - received))
            check(data, f"GET {path}: closed after {received} of {length} bytes")
            received += len(data)
        return seconds

    def close(self):
        self.sock.close()


def first_byte(sock, path):
    """Sends a GET and reads up to its first body byte: (seconds, head, body bytes so far)."""
    start = time.perf_counter()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    received = b""
    while True:
        data = sock.recv(65536)
        check(data, f"GET {path}: closed before any body")
        received += data
        head, sep, body = received.partition(b"\r\n\r\n")
        if sep:
            check(head.startswith(b"HTTP/1.1 200"), f"GET {path}: {head[:40]!r}")
            if body:
                return time.perf_counter() - start, head, body


def upstream_blob_gets(upstream, repo):
    return sum(1 for line in upstream.process.logs().splitlines() if f'"GET /v2/{repo}/blobs/' in line)


# The link to a remote upstream: 100 MB/s (800 Mbit/s), 10 ms round trip.
LINK_RATE = 100e6
LINK_DELAY = 0.005
LINK = "over a 100 MB/s, 10 ms link"


def start(binary, work):
    """The upstream, the link to it, and both mirrors in front of each."""
    upstream = start_upstream(work)
    link = Link(upstream.port, LINK_RATE, LINK_DELAY)
    near = start_mirrors(binary, work, upstream.port)
    far = start_mirrors(binary, work, link.port, label="-link")
    return SimpleNamespace(upstream=upstream, link=link, near=near, far=far,
                           servers=[upstream, *near, *far])


def stop(setup):
    for server in setup.servers:
        server.stop()
    setup.link.stop()


def measure_round(round_, ctx, setup, results):
    upstream = setup.upstream
    work = os.path.join(ctx.work, "mirror")

    def ordered(pair):
        sides = [("berth", pair[0]), ("registry2", pair[1])]
        return sides[::-1] if round_ % 2 else sides

    def run(side, what, fn):
        os.sync()  # no measurement shares the machine with the writeback of a push before it
        setup.link.wait_idle()
        results.run(side, what, fn)

    image_size = f"{ctx.image_layers} × {ctx.layer_size >> 20} MiB"
    blob_size = f"{ctx.blob_size >> 20} MiB"
    blob = os.path.join(work, "blob")
    for label, pair, port, where, tag in (("", setup.near, upstream.port, "", "near"),
                                          (f", {LINK}", setup.far, setup.link.port, f" {LINK}", "far")):
        # New content in the upstream (untimed): cold for every mirror.
        image = f"mirror/image-{tag}-{round_}"
        push_image(upstream.port, image, work, ctx.image_layers, ctx.layer_size)
        cold = f"mirror cold pull, {image_size}{label}"
        run("limit", "cold pull from upstream",
            lambda: {f"upstream pull{where}": pull_image(port, image, ctx.layer_size)})
        for side, server in ordered(pair):
            run(side, cold, lambda: {cold: pull_image(server.port, image, ctx.layer_size)})
        # A first byte takes milliseconds, less than this machine's hiccups: several a round.
        ttfb = f"mirror first byte, cold {blob_size}{label}"
        for sample in range(FIRST_BYTE_SAMPLES):
            digest = random_blob(blob, ctx.blob_size)
            repo = f"mirror/blob-{tag}-{round_}-{sample}"
            push_blob(upstream.port, repo, blob, digest)
            path = f"/v2/{repo}/blobs/{digest}"
            kept = WarmConnection(port)
            try:
                kept.first_byte_seconds("/v2/")  # connected and used once, as a mirror's is
                run("limit", "first byte from upstream",
                    lambda: {f"upstream first byte{where}": kept.first_byte_seconds(path) * 1000})
            finally:
                kept.close()
            for side, server in ordered(pair):
                run(side, ttfb, lambda: {ttfb: first_byte_seconds(server.port, path) * 1000})
                # The fetch goes on without the client; this pull waits for it (untimed, checked).
                results.run(side, "drain", lambda: verify_pull(server.port, path, digest) or {})
    # Warm: a blob both near mirrors have cached, against the same bytes pushed to Berth.
    warm = "mirror warm pull, 1 stream"
    digest = random_blob(blob, ctx.blob_size)
    path = f"/v2/mirror/warm-{round_}/blobs/{digest}"
    push_blob(upstream.port, f"mirror/warm-{round_}", blob, digest)
    berth = setup.near[0]
    push_blob(berth.port, "local/blob", blob, digest)
    os.remove(blob)
    for side, server in ordered(setup.near):
        results.run(side, "warm-up", lambda: verify_pull(server.port, path, digest) or {})
    run("limit", "local pull", lambda: {
        "local repository pull": parallel_pulls(berth.port, f"/v2/local/blob/blobs/{digest}", ctx.blob_size, 1)})
    for side, server in ordered(setup.near):
        run(side, warm, lambda: {warm: parallel_pulls(server.port, path, ctx.blob_size, 1)})

    gets = f"upstream blob GETs, {COLD_CLIENTS} cold pulls of {COLD_BLOBS} blobs"
    for side, server in ordered(setup.near):
        repo = f"mirror/cold-{round_}-{side}"  # cold for this mirror alone
        push_image(upstream.port, repo, work, COLD_BLOBS, 1 << 20)
        run(side, gets, lambda: {gets: many_cold_pulls(upstream, server, repo)})


def many_cold_pulls(upstream, server, repo):
    """COLD_CLIENTS pulls of one cold image at once; returns the blob GETs the upstream saw."""
    with ThreadPoolExecutor(COLD_CLIENTS) as pool:
        list(pool.map(lambda _: pull_image(server.port, repo, 1 << 20), range(COLD_CLIENTS)))
    time.sleep(0.5)  # the upstream's access log line follows its response
    return upstream_blob_gets(upstream, repo)


def declare(metric, ctx):
    for label in ("", f", {LINK}"):
        metric(f"mirror cold pull, {ctx.image_layers} × {ctx.layer_size >> 20} MiB{label}", "s")
        metric(f"mirror first byte, cold {ctx.blob_size >> 20} MiB{label}", "ms")
    metric("mirror warm pull, 1 stream", "MB/s")
    metric(f"upstream blob GETs, {COLD_CLIENTS} cold pulls of {COLD_BLOBS} blobs", "GETs")


def limit_of(row):
    """The limit a mirror row is compared with: the same pull straight from the upstream (over
    the same link), or from a local repository."""
    where = f" {LINK}" if row.endswith(LINK) else ""
    if row.startswith("mirror cold pull"):
        return f"upstream pull{where}"
    if row.startswith("mirror first byte"):
        return f"upstream first byte{where}"
    if row.startswith("mirror warm pull"):
        return "local repository pull"
    return None


LIMIT_UNITS = {"upstream pull": "s", f"upstream pull {LINK}": "s", "upstream first byte": "ms",
               f"upstream first byte {LINK}": "ms", "local repository pull": "MB/s"}
