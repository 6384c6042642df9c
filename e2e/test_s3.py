"""Berth on S3 (SeaweedFS, a real S3 server): sharing one bucket with registry:2 in both
directions, blob downloads redirected to the store, and the start-up errors that name what to fix.
The core API and client suites also run on S3 (scripts/test.sh: BERTH_E2E_STORAGE=s3)."""
import json
import os
import re
import subprocess

import requests

from conftest import BERTH, ROOT, Berth, digest, push_blob
from peers import Dockerd, Process, free_port, oci_image_tar_layer, port_open, wait_for
from test_clients import archive, pull_to_oci, skopeo


class Registry2OnS3:
    """registry:2 2.8.2 with its S3 driver on the same bucket and root directory."""

    def __init__(self, tmp, s3):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = os.path.join(tmp, "registry2-s3.yml")
        with open(config, "w") as f:
            json.dump({
                "version": 0.1, "log": {"level": "warn"},
                "storage": {"s3": {**s3, "v4auth": True}, "delete": {"enabled": True},
                            "redirect": {"disable": True}},
                "http": {"addr": f"127.0.0.1:{self.port}"},
            }, f)  # JSON is YAML
        # The AWS SDK in registry:2 panics on AWS_CA_BUNDLE (set on some machines) with its
        # own transport; it needs none of the AWS_* variables, given its keys in the file.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REGISTRY_"))}
        self.process = Process(["docker-registry", "serve", config], os.path.join(tmp, "registry2.log"), env=env)
        wait_for(lambda: port_open(self.port), what="registry:2 on S3")

    def stop(self):
        self.process.stop()


def berth_on(tmp_path, s3, name="b", **storage):
    d = tmp_path / name
    d.mkdir()
    return Berth(str(d), {"storage": {"s3": s3, **storage}}).start()


def test_registry2_pushes_and_berth_serves_from_one_bucket(seaweed, tmp_path):
    s3 = seaweed.config("shared-r2-first")
    r2 = Registry2OnS3(str(tmp_path), s3)
    try:
        skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive(tmp_path)}",
               f"docker://127.0.0.1:{r2.port}/team/from-r2:v1")
        expected = pull_to_oci(f"127.0.0.1:{r2.port}", "team/from-r2:v1", str(tmp_path / "via-r2"))
    finally:
        r2.stop()
    b = berth_on(tmp_path, s3, redirect={"disable": True})
    try:
        assert pull_to_oci(f"127.0.0.1:{b.port}", "team/from-r2:v1", str(tmp_path / "via-berth")) == expected
        assert requests.get(f"{b.url}/v2/_catalog").json()["repositories"] == ["team/from-r2"]
        assert requests.get(f"{b.url}/v2/team/from-r2/tags/list").json()["tags"] == ["v1"]
    finally:
        b.stop()


def test_berth_pushes_and_registry2_serves_from_one_bucket(seaweed, tmp_path):
    s3 = seaweed.config("shared-berth-first")
    b = berth_on(tmp_path, s3, redirect={"disable": True})
    try:
        host = f"127.0.0.1:{b.port}"
        skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive(tmp_path, layers=3)}",
               f"docker://{host}/team/from-berth:v1")
        # A blob pushed in 5 MiB chunks, spread over several parts and a tail.
        big = os.urandom(12 << 20)
        r = requests.post(f"{b.url}/v2/team/from-berth/blobs/uploads/")
        location = r.headers["Location"]
        for start in range(0, len(big), 5 << 20):
            chunk = big[start:start + (5 << 20)]
            r = requests.patch(location if location.startswith("http") else b.url + location, data=chunk,
                               headers={"Content-Range": f"{start}-{start + len(chunk) - 1}",
                                        "Content-Type": "application/octet-stream"})
            assert r.status_code == 202, r.text
            location = r.headers["Location"]
        url = location if location.startswith("http") else b.url + location
        assert requests.put(url, params={"digest": digest(big)}).status_code == 201
        expected = pull_to_oci(host, "team/from-berth:v1", str(tmp_path / "via-berth"))
    finally:
        b.stop()
    r2 = Registry2OnS3(str(tmp_path), s3)
    try:
        assert pull_to_oci(f"127.0.0.1:{r2.port}", "team/from-berth:v1", str(tmp_path / "via-r2")) == expected
        served = requests.get(f"{r2.url}/v2/team/from-berth/blobs/{digest(big)}")
        assert served.status_code == 200 and served.content == big
    finally:
        r2.stop()


def test_redirects_to_the_store(seaweed, tmp_path):
    """Blob downloads redirect to the store, and Docker pulls through the redirects."""
    b = berth_on(tmp_path, seaweed.config("redirects"))  # storage.redirect.disable: false, the S3 default
    docker_dir = tmp_path / "docker"
    docker_dir.mkdir()
    d = Dockerd(str(docker_dir))
    try:
        host = f"127.0.0.1:{b.port}"
        rootfs = oci_image_tar_layer({"etc/hello": b"from the bucket\n", "big": os.urandom(3_000_000)})
        d.docker("import", "-", f"{host}/team/app:v1", input=rootfs)
        d.docker("push", f"{host}/team/app:v1")
        d.docker("rmi", f"{host}/team/app:v1")

        layer = push_blob(b.url, "team/app", b"redirected bytes")
        r = requests.get(f"{b.url}/v2/team/app/blobs/{layer}", allow_redirects=False)
        assert r.status_code == 307
        assert r.headers["Location"].startswith(seaweed.endpoint + "/berth-e2e/redirects/docker/registry/v2/blobs/")
        assert requests.get(r.headers["Location"]).content == b"redirected bytes"
        # HEAD answers from Berth itself.
        assert requests.head(f"{b.url}/v2/team/app/blobs/{layer}").status_code == 200

        before = len(re.findall(r'"GET /v2/team/app/blobs/sha256:[0-9a-f]+ HTTP/1.1" 307', b.logs()))
        d.docker("pull", f"{host}/team/app:v1")
        # Docker's blob GETs were answered with redirects, and it pulled through them.
        after = len(re.findall(r'"GET /v2/team/app/blobs/sha256:[0-9a-f]+ HTTP/1.1" 307', b.logs()))
        assert after - before >= 2  # the config and the layer
        assert f"{host}/team/app:v1" in d.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode()
    finally:
        d.stop()
        b.stop()


def start_fails(tmp_path, s3, name):
    d = tmp_path / name
    d.mkdir()
    b = Berth(str(d), {"storage": {"s3": s3}})
    try:
        b.start()
    except RuntimeError as error:
        return str(error)
    b.stop()
    raise AssertionError("berth started")


def test_bad_s3_settings_stop_the_start(seaweed, tmp_path):
    """Wrong credentials and a missing bucket stop the start, saying which."""
    said = start_fails(tmp_path, seaweed.config("x", secretkey="not-the-secret"), "creds")
    assert "refused the credentials" in said and "storage.s3.accesskey" in said
    assert "not-the-secret" not in said  # the secret is never logged
    said = start_fails(tmp_path, seaweed.config("x", bucket="no-such-bucket"), "bucket")
    assert "no-such-bucket does not exist" in said


def serve_until_listening(tmp_path, args, env, name):
    log = tmp_path / f"{name}.log"
    with open(log, "w") as f:
        p = subprocess.Popen([BERTH, "serve", *args], stderr=f, stdout=f, env=env)
    try:
        wait_for(lambda: "listening on" in log.read_text() or p.poll() is not None, what=name)
        text = log.read_text()
        assert "listening on" in text and "storage=s3" in text, text
        assert "unknown configuration key" not in text, text
        port = int(re.findall(r"listening on http://[0-9.]+:(\d+)", text)[-1])
        d = push_blob(f"http://127.0.0.1:{port}", "team/app", b"in the bucket")
        assert requests.get(f"http://127.0.0.1:{port}/v2/team/app/blobs/{d}").content == b"in the bucket"
    finally:
        p.terminate()
        p.wait(20)


def test_the_s3_example_and_the_helm_charts_variables_start(seaweed, tmp_path):
    """config/s3/registry-s3.yml with its endpoint and keys from the environment, and registry:2's
    own filesystem config switched to S3 by the variables the Helm chart sets."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "AWS_"))}
    env = {**base, "REGISTRY_HTTP_ADDR": "127.0.0.1:0", "REGISTRY_STORAGE_S3_BUCKET": "berth-e2e",
           "REGISTRY_STORAGE_S3_REGIONENDPOINT": seaweed.endpoint, "REGISTRY_STORAGE_S3_ROOTDIRECTORY": "/example",
           "AWS_ACCESS_KEY_ID": seaweed.config("x")["accesskey"],
           "AWS_SECRET_ACCESS_KEY": seaweed.config("x")["secretkey"]}
    serve_until_listening(tmp_path, [os.path.join(ROOT, "config", "s3", "registry-s3.yml")], env, "example")
    chart = {**base, "REGISTRY_HTTP_ADDR": "127.0.0.1:0", "REGISTRY_STORAGE": "s3",
             "REGISTRY_STORAGE_S3_BUCKET": "berth-e2e", "REGISTRY_STORAGE_S3_REGION": "us-east-1",
             "REGISTRY_STORAGE_S3_REGIONENDPOINT": seaweed.endpoint, "REGISTRY_STORAGE_S3_ROOTDIRECTORY": "/chart",
             "REGISTRY_STORAGE_S3_ACCESSKEY": seaweed.config("x")["accesskey"],
             "REGISTRY_STORAGE_S3_SECRETKEY": seaweed.config("x")["secretkey"],
             "REGISTRY_STORAGE_REDIRECT_DISABLE": "true"}
    serve_until_listening(tmp_path, [os.path.join(ROOT, "config", "registry.yml")], chart, "chart")
