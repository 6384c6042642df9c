"""The mirror against an upstream that misbehaves on cue: a connection dropped mid-blob, 429 with
Retry-After, 500s, a slow upstream, the offline period; and expiry by TTL and by size cap. The
upstream is a small registry in the test, because registry:2 cannot be told to fail."""
import http.server
import json
import os
import re
import socket
import threading
import time

import pytest
import requests

from conftest import OCI_MANIFEST, digest, oci_error
from peers import wait_for


class ScriptedUpstream:
    """Serves one image (a config and two 1 MiB layers, tag v1) from memory, with `Range`, and
    logs every request. Set `status` (and `retry_after`) to answer everything with it, `delay`
    to answer late, `pace` to send blobs slowly, or `drops` (a count, -1 for always) to cut blob
    GETs after `drop_after` bytes."""

    def __init__(self):
        self.config = b'{"architecture":"amd64","os":"linux"}'
        self.layers = [os.urandom(1 << 20), os.urandom(1 << 20)]
        descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(l), "size": len(l)}
                 for l in self.layers]
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(self.config),
                       "size": len(self.config)},
            "layers": descs}).encode()
        self.blobs = {digest(b): b for b in [self.config] + self.layers}
        self.requests = []
        self.status = None
        self.retry_after = None
        self.delay = 0
        self.drops = 0
        self.drop_after = 300_000
        self.stop_on_drop = False
        # Seconds between 64 KiB pieces of a blob body: a download that lasts while others join.
        self.pace = 0
        # When each paced blob body was sent to its end, by digest.
        self.sent = {}
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self):
                self.answer(head=True)

            def do_GET(self):
                self.answer(head=False)

            def answer(self, head):
                upstream.requests.append((self.command, self.path, self.headers.get("Range")))
                if upstream.delay:
                    time.sleep(upstream.delay)
                if upstream.status:
                    self.send_response(upstream.status)
                    if upstream.retry_after:
                        self.send_header("Retry-After", upstream.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/v2/":
                    return self.send(200, b"{}", "application/json", head)
                m = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/?]+)", self.path)
                if not m:
                    return self.send(404, b"", "text/plain", head)
                kind, ref = m.group(2), m.group(3)
                if kind == "manifests":
                    if ref not in ("v1", digest(upstream.manifest)):
                        return self.send(404, b"", "text/plain", head)
                    return self.send(200, upstream.manifest, OCI_MANIFEST, head,
                                     {"Docker-Content-Digest": digest(upstream.manifest)})
                blob = upstream.blobs.get(ref)
                if blob is None:
                    return self.send(404, b"", "text/plain", head)
                start = 0
                if self.headers.get("Range"):
                    start = int(re.fullmatch(r"bytes=(\d+)-", self.headers["Range"]).group(1))
                body = blob[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(blob) - 1}/{len(blob)}")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Docker-Content-Digest", ref)
                self.end_headers()
                if head:
                    return
                if upstream.drops and len(body) > upstream.drop_after:
                    upstream.drops -= 1 if upstream.drops > 0 else 0
                    self.wfile.write(body[:upstream.drop_after])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    if upstream.stop_on_drop:
                        upstream.server.socket.close()  # stopped: nothing listens any more
                    return
                if not upstream.pace:
                    return self.wfile.write(body)
                for start in range(0, len(body), 64 << 10):
                    self.wfile.write(body[start:start + (64 << 10)])
                    self.wfile.flush()
                    if start + (64 << 10) >= len(body):
                        upstream.sent[ref] = time.time()  # before the pause, which clients need not wait out
                    time.sleep(upstream.pace)

            def send(self, status, body, content_type, head, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.handler = Handler
        self.listen(0)

    def listen(self, port):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), self.handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def restart(self):
        """Listens again on the same port, as an upstream back from a restart."""
        port = self.server.server_address[1]
        self.server.shutdown()
        self.stop_on_drop = False
        self.listen(port)

    def blob_gets(self, blob):
        return [r for r in self.requests if r[0] == "GET" and r[1].endswith(f"/blobs/{digest(blob)}")]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    u = ScriptedUpstream()
    yield u
    u.stop()


NAME = "s.test/team/app"


def mirror(start_berth, upstream, expiry=None, **extra):
    config = {"mirror": {"upstreams": {"s": {"url": upstream.url, "prefixes": ["s.test"], **extra}}}}
    if expiry:
        config["mirror"]["expiry"] = expiry
    return start_berth(config)


def counters(b):
    return requests.get(f"{b.url}/debug/mirror").json()["upstreams"]["s"]


def blob_file(b, blob):
    h = digest(blob).split(":")[1]
    return os.path.join(b.data, "docker/registry/v2/blobs/sha256", h[:2], h, "data")


def staging_empty(b):
    staging = os.path.join(b.data, "docker/registry/v2/_berth/mirror-staging")
    return not os.path.exists(staging) or not os.listdir(staging)


def test_a_dropped_download_goes_on_with_range(start_berth, scripted):
    b = mirror(start_berth, scripted)
    scripted.drops = 1
    layer = scripted.layers[0]
    r = requests.get(f"{b.url}/v2/{NAME}/blobs/{digest(layer)}")
    assert r.status_code == 200 and r.content == layer
    gets = scripted.blob_gets(layer)
    # Resumed from what arrived: the bytes sent, or fewer when the reset overtook some of them.
    assert len(gets) == 2 and gets[0][2] is None, gets
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", gets[1][2]).group(1))
    assert 0 < resumed_at <= scripted.drop_after, gets
    assert "resuming" in b.logs()
    c = counters(b)
    assert c["bytesFromUpstream"] == len(layer) and c["misses"] == 1
    # Cached whole and verified: the next pull asks nothing upstream.
    wait_for(lambda: os.path.exists(blob_file(b, layer)), timeout=5, what="the layer stored")
    assert requests.get(f"{b.url}/v2/{NAME}/blobs/{digest(layer)}").content == layer
    assert len(scripted.blob_gets(layer)) == 2
    assert counters(b)["hits"] == 1


def test_an_upstream_that_keeps_dropping_caches_nothing_and_a_retry_succeeds(start_berth, scripted):
    b = mirror(start_berth, scripted)
    scripted.drops, scripted.drop_after = -1, 100_000
    layer = scripted.layers[1]
    try:
        r = requests.get(f"{b.url}/v2/{NAME}/blobs/{digest(layer)}")
        assert r.content != layer
    except requests.exceptions.ChunkedEncodingError:
        pass  # cut once the download cannot go on: the client never gets a wrong blob
    assert len(scripted.blob_gets(layer)) == 4  # the first GET and three resumes
    wait_for(lambda: staging_empty(b), timeout=10, what="staging cleaned")
    assert not os.path.exists(blob_file(b, layer))
    scripted.drops = 0
    r = requests.get(f"{b.url}/v2/{NAME}/blobs/{digest(layer)}")
    assert r.status_code == 200 and r.content == layer


def test_the_upstream_stopped_mid_blob_caches_nothing_and_serves_once_back(start_berth, scripted):
    b = mirror(start_berth, scripted)
    scripted.drops, scripted.stop_on_drop = 1, True
    layer = scripted.layers[0]
    try:
        r = requests.get(f"{b.url}/v2/{NAME}/blobs/{digest(layer)}")
        assert r.content != layer
    except requests.exceptions.ChunkedEncodingError:
        pass
    wait_for(lambda: staging_empty(b), timeout=10, what="staging cleaned")
    assert not os.path.exists(blob_file(b, layer))
    assert "blob fetch failed" in b.logs()
    scripted.restart()
    r = requests.get(f"{b.url}/v2/{NAME}/blobs/{digest(layer)}")
    assert r.status_code == 200 and r.content == layer


def test_429_with_retry_after_serves_the_cache_without_asking_again(start_berth, scripted):
    b = mirror(start_berth, scripted)
    assert requests.get(f"{b.url}/v2/{NAME}/manifests/v1").content == scripted.manifest
    scripted.status, scripted.retry_after = 429, "30"
    r = requests.get(f"{b.url}/v2/{NAME}/manifests/v1")
    assert r.status_code == 200 and r.content == scripted.manifest
    asked = len(scripted.requests)
    # Offline for the 30 s asked: the cache at once, and what is not cached fails at once.
    assert requests.get(f"{b.url}/v2/{NAME}/manifests/v1").content == scripted.manifest
    started = time.time()
    r = requests.get(f"{b.url}/v2/{NAME}/blobs/{digest(scripted.layers[0])}")
    oci_error(r, "UNAVAILABLE", 502)
    assert "offline" in r.json()["errors"][0]["message"]
    assert time.time() - started < 1
    assert len(scripted.requests) == asked
    c = counters(b)
    assert c["offlinePeriods"] == 1 and c["staleServes"] == 2
    assert c["requests"]["manifest HEAD 429"] == 1


def test_500s_take_the_upstream_offline_for_a_while(start_berth, scripted):
    b = mirror(start_berth, scripted, offlineafter=2, offlinefor="2s")
    assert requests.get(f"{b.url}/v2/{NAME}/manifests/v1").status_code == 200
    scripted.status = 500
    for _ in range(2):
        r = requests.get(f"{b.url}/v2/{NAME}/manifests/v1")
        assert r.status_code == 200 and r.content == scripted.manifest
    asked = len(scripted.requests)
    assert requests.get(f"{b.url}/v2/{NAME}/manifests/v1").status_code == 200
    assert len(scripted.requests) == asked  # offline: not asked
    scripted.status = None
    time.sleep(2.5)
    assert requests.get(f"{b.url}/v2/{NAME}/manifests/v1").status_code == 200
    assert len(scripted.requests) == asked + 1  # back: the tag is checked again
    assert counters(b)["requests"]["manifest HEAD 500"] == 2


def test_a_slow_upstream_serves_the_cache_after_the_timeout(start_berth, scripted):
    b = mirror(start_berth, scripted, timeout="1s", offlineafter=100)
    assert requests.get(f"{b.url}/v2/{NAME}/manifests/v1").status_code == 200
    scripted.delay = 4
    started = time.time()
    r = requests.get(f"{b.url}/v2/{NAME}/manifests/v1")
    assert r.status_code == 200 and r.content == scripted.manifest
    r = requests.get(f"{b.url}/v2/{NAME}/manifests/{digest(b'never pushed')}")
    oci_error(r, "UNAVAILABLE", 502)
    assert time.time() - started < 3.5
    scripted.delay = 0


def test_ttl_removes_unused_content_and_a_later_pull_fetches_it_again(start_berth, scripted):
    b = mirror(start_berth, scripted, expiry={"interval": "1s", "inuse": "1s"}, ttl="2s")
    assert requests.get(f"{b.url}/v2/{NAME}/manifests/v1").status_code == 200
    layer = scripted.layers[0]
    assert requests.get(f"{b.url}/v2/{NAME}/blobs/{digest(layer)}").content == layer
    # The last bytes reach the client as they are staged, just before the blob is named.
    wait_for(lambda: os.path.exists(blob_file(b, layer)), timeout=5, what="the layer stored")
    wait_for(lambda: not os.path.exists(blob_file(b, layer)), timeout=20, what="the layer to expire")
    wait_for(lambda: requests.get(f"{b.url}/v2/_catalog").json()["repositories"] == [], timeout=10,
             what="the emptied repository to leave the catalog")
    assert counters(b)["evictions"] >= 2  # the layer and the manifest
    assert requests.get(f"{b.url}/v2/{NAME}/blobs/{digest(layer)}").content == layer
    assert len(scripted.blob_gets(layer)) == 2


def test_the_size_cap_evicts_the_least_recently_used_blob(start_berth, scripted):
    b = mirror(start_berth, scripted, maxsize="1500000", ttl="1h")
    first, second = scripted.layers
    assert requests.get(f"{b.url}/v2/{NAME}/blobs/{digest(first)}").content == first
    time.sleep(1.1)  # ages are kept to the second
    assert requests.get(f"{b.url}/v2/{NAME}/blobs/{digest(second)}").content == second
    wait_for(lambda: os.path.exists(blob_file(b, second)), timeout=5, what="the newer layer stored")
    wait_for(lambda: not os.path.exists(blob_file(b, first)), timeout=20, what="the older layer evicted")
    assert os.path.exists(blob_file(b, second))
    assert requests.get(f"{b.url}/v2/{NAME}/blobs/{digest(second)}").content == second
    assert len(scripted.blob_gets(second)) == 1
