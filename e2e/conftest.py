"""Fixtures that run the real `berth` binary on an ephemeral loopback port."""
import hashlib
import json
import os
import re
import signal
import subprocess
import time

import pytest
import requests
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BERTH = os.environ.get("BERTH_BIN", os.path.join(ROOT, ".build", "debug", "berth"))
# `BERTH_E2E_STORAGE=s3` runs the same tests with Berth on S3 (SeaweedFS, started once for the
# session); scripts/test.sh reruns the core API and client suites that way.
STORAGE = os.environ.get("BERTH_E2E_STORAGE", "filesystem")
filesystem_only = pytest.mark.skipif(STORAGE != "filesystem", reason="reads the data directory itself")


class Berth:
    """One berth process with its own config and data directory."""

    def __init__(self, tmp, config=None, env=None, s3=None, redis=None):
        self.tmp = tmp
        self.data = os.path.join(tmp, "data")
        named = {"filesystem", "s3"} & set((config or {}).get("storage", {}))
        # A test's own filesystem block is merged over this one; its own s3 block replaces it.
        storage = {} if "s3" in named else {"filesystem": {"rootdirectory": self.data}}
        # The in-memory descriptor cache, as in the config.yml of registry:2's image and Berth's
        # embedded default: manifest pulls are answered on the event loop once pulled.
        cache = {"cache": {"blobdescriptor": "inmemory"}}
        extra = {}
        # On S3 with the Redis cache unless the test names its own storage (sharing a
        # directory with registry:2); each Berth gets a Redis database of its own.
        if s3 and not named:
            storage = {"s3": s3.config(os.path.basename(tmp.rstrip("/")) + "-" + os.urandom(4).hex()),
                       "redirect": {"disable": True}}
            cache = {"cache": {"blobdescriptor": "redis"}}
            extra = {"redis": {"addr": f"127.0.0.1:{redis.port}", "db": redis.next_database()}}
        base = {
            "version": 0.1,
            "log": {"level": "info"},
            "storage": {**storage, **cache, "delete": {"enabled": True}},
            "http": {"addr": "127.0.0.1:0"},
            **extra,
        }
        self.config = deep_merge(base, config or {})
        self.env = env or {}
        self.proc = None
        self.url = None
        self.log_path = os.path.join(tmp, "berth.log")

    def start(self, port=None):
        config = json.loads(json.dumps(self.config))
        if port:
            config["http"]["addr"] = f"127.0.0.1:{port}"
        path = os.path.join(self.tmp, "config.yml")
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env.update(self.env)
        self.log = open(self.log_path, "a")
        offset = self.log.tell()
        self.proc = subprocess.Popen([BERTH, "serve", path], stderr=self.log, stdout=self.log, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(self.log_path) as f:
                f.seek(offset)
                m = re.findall(r"listening on (https?)://([0-9.]+):(\d+)", f.read())
            if m:
                scheme, host, p = m[-1]
                self.port = int(p)
                self.url = f"{scheme}://{host}:{p}"
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("berth exited: " + open(self.log_path).read())
            time.sleep(0.05)
        self.proc.kill()  # never leave a process behind that no fixture will stop
        self.proc.wait()
        raise RuntimeError("berth did not start: " + open(self.log_path).read())

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def restart(self):
        self.stop()
        return self.start(port=self.port)

    def logs(self):
        with open(self.log_path) as f:
            return f.read()


def deep_merge(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """SeaweedFS with one bucket, for the whole session."""
    from seaweed import SeaweedFS
    server = SeaweedFS(str(tmp_path_factory.mktemp("seaweedfs"))).start()
    server.make_bucket("berth-e2e")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_databases(tmp_path_factory):
    """One redis-server for the session's Berths on S3, a fresh database for each."""
    from peers import Redis
    server = Redis(str(tmp_path_factory.mktemp("redis")), databases=10_000)
    used = iter(range(10_000))
    server.next_database = lambda: next(used)
    yield server
    server.stop()


@pytest.fixture
def start_berth(tmp_path, request):
    started = []
    s3 = request.getfixturevalue("seaweed") if STORAGE == "s3" else None
    redis = request.getfixturevalue("redis_databases") if STORAGE == "s3" else None

    def start(config=None, env=None, subdir="b"):
        d = tmp_path / f"{subdir}{len(started)}"
        d.mkdir()
        b = Berth(str(d), config, env, s3=s3, redis=redis).start()
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


@pytest.fixture
def berth(start_berth):
    return start_berth()


# ---- small registry client helpers ------------------------------------------------------------

def digest(data, alg="sha256"):
    return f"{alg}:" + hashlib.new(alg, data).hexdigest()


def push_blob(url, name, data, alg="sha256"):
    d = digest(data, alg)
    r = requests.post(f"{url}/v2/{name}/blobs/uploads/")
    assert r.status_code == 202, r.text
    r = requests.put(absolute(url, r.headers["Location"]), params={"digest": d}, data=data)
    assert r.status_code == 201, r.text
    return d


def absolute(url, location):
    return location if location.startswith("http") else url + location


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def image(url, name, layers=(b"layer-one",), config=b'{"architecture":"amd64","os":"linux"}',
          media_type=OCI_MANIFEST, extra=None):
    """Pushes config and layers, returns (manifest bytes, descriptor dicts)."""
    cd = push_blob(url, name, config)
    layer_descs = []
    for layer in layers:
        ld = push_blob(url, name, layer)
        layer_descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)})
    config_type = ("application/vnd.docker.container.image.v1+json" if media_type == DOCKER_MANIFEST
                   else "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": media_type,
                "config": {"mediaType": config_type, "digest": cd, "size": len(config)}, "layers": layer_descs}
    manifest.update(extra or {})
    return json.dumps(manifest).encode()


def put_manifest(url, name, ref, body, media_type=OCI_MANIFEST):
    return requests.put(f"{url}/v2/{name}/manifests/{ref}", data=body, headers={"Content-Type": media_type})


def oci_error(response, code, status=None):
    if status is not None:
        assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("Docker-Distribution-API-Version") == "registry/2.0"
    codes = [e["code"] for e in response.json()["errors"]]
    assert code in codes, response.text
    return response.json()["errors"][0]
