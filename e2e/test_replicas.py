"""Two Berth replicas on one S3 bucket (SeaweedFS) and one Redis, on different ports and with no
load balancer: the test alternates between them. What it shows: an upload continued by the other
replica chunk by chunk, tags answered alike by both through the shared cache, and Redis stopped
and restarted under traffic with no request failing, a replica killed mid-upload, and cold
mirror pulls through both replicas that cause one upstream download per blob."""
import concurrent.futures
import os
import signal
import subprocess
import time

import pytest
import requests

from conftest import Berth, absolute, digest, image, push_blob, put_manifest
from peers import Redis, wait_for
from test_mirror_faults import NAME, ScriptedUpstream


def keys(redis, pattern):
    r = subprocess.run(["redis-cli", "-p", str(redis.port), "--scan", "--pattern", pattern],
                       capture_output=True, text=True, check=True)
    return sorted(r.stdout.split())


@pytest.fixture
def redis(tmp_path):
    server = Redis(str(tmp_path))
    yield server
    server.stop()


def replicas(tmp_path, seaweed, redis, count=2, storage=None, extra=None):
    """Replicas with one config: on one S3 root (small parts, so that a test upload spans
    several), or on `storage` when given."""
    storage = storage or {"s3": seaweed.config("replicas-" + os.urandom(4).hex(), chunksize=5 << 20),
                          "redirect": {"disable": True}}
    started = []
    for n in range(count):
        d = tmp_path / f"replica{n}"
        d.mkdir()
        started.append(Berth(str(d), {
            "storage": {**storage, "cache": {"blobdescriptor": "redis"}},
            "redis": {"addr": f"127.0.0.1:{redis.port}", "readtimeout": "500ms", "dialtimeout": "200ms"},
            "http": {"secret": "the-same-on-every-replica"},
            **(extra or {}),
        }).start())
    return started


def upload_dir(server, path):
    """The S3 key prefix of the upload at URL path `path` on `server`."""
    uuid = path.split("?")[0].rstrip("/").split("/")[-1]
    root = server.config["storage"]["s3"]["rootdirectory"]
    return f"{root}/docker/registry/v2/repositories/team/app/_uploads/{uuid}"


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
            # and where its hash stands: the state is in the bucket, so the other replica hashes
            # on from it instead of reading the upload back at the end.
            status, state = seaweed.request("GET", f"/berth-e2e{upload_dir(a, path)}/hashstates/sha256/"
                                                   f"{start + len(body)}")
            assert status == 200 and len(state) == 108 and state.startswith(b"sha\x03")
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


def test_a_replica_killed_mid_upload_loses_nothing_acknowledged(seaweed, redis, tmp_path):
    a, b = replicas(tmp_path, seaweed, redis)
    try:
        data = os.urandom(26 << 20)
        r = requests.post(f"{a.url}/v2/team/app/blobs/uploads/")
        path = absolute(a.url, r.headers["Location"]).split(a.url, 1)[1]
        first = 7 << 20  # more than one S3 part (5 MiB in tests' config): a part and a tail
        r = requests.patch(a.url + path, data=data[:first],
                           headers={"Content-Range": f"0-{first - 1}", "Content-Type": "application/octet-stream"})
        assert r.status_code == 202, r.text
        path = absolute(a.url, r.headers["Location"]).split(a.url, 1)[1]

        # The next chunk is cut off halfway: a is killed while its bytes arrive.
        def body():
            sent = first
            while sent < first + (12 << 20):
                yield data[sent:sent + (1 << 20)]
                sent += 1 << 20
                if sent == first + (6 << 20):
                    time.sleep(0.5)  # let a hand what it has to storage, then kill it mid-request
                    a.stop(sig=signal.SIGKILL)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.patch(a.url + path, data=body(), headers={"Content-Type": "application/octet-stream"},
                           timeout=30)

        # The client asks the other replica where the upload stands and goes on from there.
        r = requests.get(b.url + path)
        assert r.status_code == 204, r.text
        end = int(r.headers["Range"].split("-")[1]) + 1
        assert first <= end <= first + (6 << 20), end
        r = requests.patch(b.url + path, data=data[end:],
                           headers={"Content-Range": f"{end}-{len(data) - 1}", "Content-Type": "application/octet-stream"})
        assert r.status_code == 202, r.text
        path = absolute(b.url, r.headers["Location"]).split(b.url, 1)[1]
        r = requests.put(b.url + path, params={"digest": digest(data)})
        assert r.status_code == 201, r.text
        assert requests.get(f"{b.url}/v2/team/app/blobs/{digest(data)}").content == data
    finally:
        a.stop()
        b.stop()


@pytest.fixture
def scripted():
    upstream = ScriptedUpstream()
    yield upstream
    upstream.stop()


def mirrored(upstream):
    return {"mirror": {"upstreams": {"s": {"url": upstream.url, "prefixes": ["s.test"]}}}}


def debug_counters(server):
    return requests.get(f"{server.url}/debug/mirror").json()["upstreams"]["s"]


def test_cold_pulls_through_both_replicas_fetch_each_blob_once(seaweed, redis, scripted, tmp_path):
    scripted.pace = 0.05  # each 1 MiB layer takes about a second to arrive
    a, b = replicas(tmp_path, seaweed, redis, extra=mirrored(scripted))
    try:
        def pull(job):
            server, layer = job
            return requests.get(f"{server.url}/v2/{NAME}/blobs/{digest(layer)}", timeout=60).content == layer

        jobs = [(server, layer) for layer in scripted.layers for server in (a, b) * 4]
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            assert all(pool.map(pull, jobs))
        for layer in scripted.layers:
            assert len(scripted.blob_gets(layer)) == 1, scripted.blob_gets(layer)
        # One replica downloaded each layer, the other followed it.
        assert sum(debug_counters(s)["followedReplicas"] for s in (a, b)) == len(scripted.layers)
        assert not keys(redis, "berth:lease:*")  # released once stored
    finally:
        a.stop()
        b.stop()


@pytest.mark.parametrize("store", ["files", "s3"])
def test_a_replica_streams_another_replicas_download_as_it_arrives(store, seaweed, redis, scripted, tmp_path):
    if store == "files":
        # 6 MiB in about 3 s: a file takes bytes a MiB at a time, so b sees them MiB by MiB.
        scripted.pace = 0.03
        layer = os.urandom(6 << 20)
        shared = {"filesystem": {"rootdirectory": str(tmp_path / "shared")}}
    else:
        # 16 MiB in about 6 s, stored in 5 MiB segments that b reads as each is stored.
        scripted.pace = 0.025
        layer = os.urandom(16 << 20)
        shared = None
    scripted.blobs[digest(layer)] = layer
    a, b = replicas(tmp_path, seaweed, redis, storage=shared, extra=mirrored(scripted))
    try:
        url = f"/v2/{NAME}/blobs/{digest(layer)}"
        first = requests.get(a.url + url, stream=True, timeout=60)
        first_bytes = next(first.iter_content(64 << 10))
        started = time.time()
        second = requests.get(b.url + url, stream=True, timeout=60)
        pieces = second.iter_content(16 << 10)
        head = next(pieces)
        first_byte = time.time()
        rest = b"".join(pieces)
        assert head + rest == layer
        assert first_bytes + first.raw.read() == layer
        # b answered from a's staged bytes while they arrived, not once the whole layer was in.
        wait_for(lambda: digest(layer) in scripted.sent, timeout=5, what="the upstream's last write")
        assert first_byte < scripted.sent[digest(layer)], (first_byte - started, scripted.sent[digest(layer)] - started)
        assert len(scripted.blob_gets(layer)) == 1
        assert debug_counters(b)["followedReplicas"] == 1
    finally:
        a.stop()
        b.stop()


def test_a_replica_takes_over_the_download_of_one_that_died(redis, scripted, tmp_path):
    scripted.pace = 0.1
    shared = {"filesystem": {"rootdirectory": str(tmp_path / "shared")}}
    a, b = replicas(tmp_path, None, redis, storage=shared, extra=mirrored(scripted))
    try:
        layer = scripted.layers[1]
        url = f"/v2/{NAME}/blobs/{digest(layer)}"
        first = requests.get(a.url + url, stream=True, timeout=60)
        next(first.iter_content(1024))
        following = concurrent.futures.ThreadPoolExecutor(1).submit(
            lambda: requests.get(b.url + url, timeout=90).content)
        time.sleep(0.5)
        a.stop(sig=signal.SIGKILL)
        # b waits out a's lease, then downloads the layer itself.
        assert following.result() == layer
        assert len(scripted.blob_gets(layer)) == 2
        assert requests.get(b.url + url).content == layer
    finally:
        a.stop()
        b.stop()
