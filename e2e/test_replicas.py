"""Two Berth replicas on one S3 bucket (SeaweedFS) and one Redis, on different ports and with no
load balancer: the test alternates between them. What it shows: an upload continued by the other
replica chunk by chunk, tags answered alike by both through the shared cache, and Redis stopped
and restarted under traffic with no request failing."""
import concurrent.futures
import os
import subprocess
import time

import pytest
import requests

from conftest import Berth, absolute, digest, image, push_blob, put_manifest
from peers import free_port, port_open, wait_for


class Redis:
    def __init__(self, tmp, port=None):
        self.port = port or free_port()
        self.log = open(os.path.join(tmp, f"redis-{self.port}.log"), "a")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--daemonize", "no"], stdout=self.log, stderr=self.log)
        wait_for(lambda: port_open(self.port), what="redis")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def keys(redis, pattern):
    r = subprocess.run(["redis-cli", "-p", str(redis.port), "--scan", "--pattern", pattern],
                       capture_output=True, text=True, check=True)
    return sorted(r.stdout.split())


@pytest.fixture
def redis(tmp_path):
    server = Redis(str(tmp_path))
    yield server
    server.stop()


def replicas(tmp_path, seaweed, redis, count=2):
    s3 = seaweed.config("replicas-" + os.urandom(4).hex())
    started = []
    for n in range(count):
        d = tmp_path / f"replica{n}"
        d.mkdir()
        started.append(Berth(str(d), {
            "storage": {"s3": s3, "redirect": {"disable": True}, "cache": {"blobdescriptor": "redis"}},
            "redis": {"addr": f"127.0.0.1:{redis.port}", "readtimeout": "500ms", "dialtimeout": "200ms"},
            "http": {"secret": "the-same-on-every-replica"},
        }).start())
    return started


def test_an_upload_alternates_between_replicas_and_a_tag_is_answered_alike(seaweed, redis, tmp_path):
    a, b = replicas(tmp_path, seaweed, redis)
    try:
        data = os.urandom((11 << 20) + 12345)
        r = requests.post(f"{a.url}/v2/team/app/blobs/uploads/")
        assert r.status_code == 202
        path = absolute(a.url, r.headers["Location"]).split(a.url, 1)[1]
        chunk = 3 << 20
        for i, start in enumerate(range(0, len(data), chunk)):
            server = (a, b)[i % 2]
            body = data[start:start + chunk]
            r = requests.patch(server.url + path, data=body,
                               headers={"Content-Range": f"{start}-{start + len(body) - 1}",
                                        "Content-Type": "application/octet-stream"})
            assert r.status_code == 202, (i, r.text)
            path = absolute(server.url, r.headers["Location"]).split(server.url, 1)[1]
            # Either replica knows where the upload stands.
            assert requests.get((b, a)[i % 2].url + path).headers["Range"] == f"0-{start + len(body) - 1}"
        r = requests.put(b.url + path, params={"digest": digest(data)})
        assert r.status_code == 201, r.text
        assert requests.get(f"{a.url}/v2/team/app/blobs/{digest(data)}").content == data

        one = image(a.url, "team/app", layers=(b"one",))
        two = image(b.url, "team/app", layers=(b"two",))
        assert put_manifest(a.url, "team/app", "latest", one).status_code == 201
        assert requests.get(f"{b.url}/v2/team/app/manifests/latest").content == one
        assert put_manifest(b.url, "team/app", "latest", two).status_code == 201
        # The tag moved on b; a answers the new digest at once (the shared cache was updated).
        assert requests.get(f"{a.url}/v2/team/app/manifests/latest").content == two
        assert keys(redis, "berth:tag:team/app:latest") == ["berth:tag:team/app:latest"]
        assert keys(redis, "berth:link:manifest:team/app:*")
        assert requests.delete(f"{a.url}/v2/team/app/manifests/{digest(two)}").status_code == 202
        assert requests.get(f"{b.url}/v2/team/app/manifests/latest").status_code == 404
    finally:
        a.stop()
        b.stop()


def test_redis_stopped_and_restarted_under_traffic_fails_no_request(seaweed, redis, tmp_path):
    a, b = replicas(tmp_path, seaweed, redis)
    try:
        layer = push_blob(a.url, "team/app", os.urandom(100_000))
        body = image(a.url, "team/app")
        put_manifest(a.url, "team/app", "v1", body)
        stop = time.time() + 6
        failures = []

        def pulls(server):
            n = 0
            while time.time() < stop:
                for url in (f"{server.url}/v2/team/app/manifests/v1", f"{server.url}/v2/team/app/blobs/{layer}"):
                    r = requests.get(url, timeout=10)
                    if r.status_code != 200:
                        failures.append((url, r.status_code, r.text[:200]))
                    n += 1
            return n

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            running = [pool.submit(pulls, server) for server in (a, b, a, b)]
            time.sleep(1.5)
            redis.stop()
            time.sleep(2)
            restarted = Redis(str(tmp_path), port=redis.port)
            counts = [f.result() for f in running]
        assert not failures, failures[:3]
        assert sum(counts) > 100
        for server in (a, b):
            assert "redis is unavailable" in server.logs()
        assert any("redis is reachable again" in server.logs() for server in (a, b))
        # Back in use: a tag set now is answered from the cache by the other replica.
        two = image(b.url, "team/app", layers=(b"after",))
        put_manifest(b.url, "team/app", "v1", two)
        assert requests.get(f"{a.url}/v2/team/app/manifests/v1").content == two
        restarted.stop()
    finally:
        a.stop()
        b.stop()
