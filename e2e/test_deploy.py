"""deploy/compose.yaml, deploy/compose.s3.yaml and deploy/kubernetes/: what they give Berth (the
image's config, the variables, the ConfigMap, the Secret, the probes) run by the real binary
here, against SeaweedFS and a Redis with the password they set. Neither compose nor a cluster
runs here (no images can be pulled), so what is checked is everything Berth reads from them."""
import json
import os
import re
import subprocess

import requests
import yaml

from conftest import BERTH, ROOT, absolute, digest, push_blob
from peers import free_port, port_open, wait_for

DEPLOY = os.path.join(ROOT, "deploy")
IMAGE_CONFIG = os.path.join(DEPLOY, "image", "config.yml")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "AWS_"))}
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Served:
    def __init__(self, tmp_path, name, args, env):
        self.log = tmp_path / f"{name}.log"
        with open(self.log, "w") as f:
            self.proc = subprocess.Popen([BERTH, "serve", *args], stderr=f, stdout=f, env=env)
        wait_for(lambda: "listening on" in self.log.read_text() or self.proc.poll() is not None, what=name)
        text = self.log.read_text()
        assert "listening on" in text, text
        assert "unknown configuration key" not in text and "is ignored" not in text, text
        self.url = "http://127.0.0.1:" + re.findall(r"listening on http://[0-9.]+:(\d+)", text)[-1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(20)


def redis_with_password(tmp_path, password):
    port = free_port()
    log = open(tmp_path / "redis.log", "w")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--requirepass", password], stdout=log, stderr=log)
    wait_for(lambda: port_open(port), what="redis")
    return proc, port


def test_compose_runs_the_image_config_with_its_variables(tmp_path):
    compose = yaml.safe_load(open(os.path.join(DEPLOY, "compose.yaml")))
    service = compose["services"]["registry"]
    assert service["ports"] == ["5000:5000"]
    assert service["volumes"] == ["registry-data:/var/lib/registry"]
    dockerfile = open(os.path.join(DEPLOY, "Dockerfile")).read()
    assert 'VOLUME ["/var/lib/registry"]' in dockerfile or "VOLUME /var/lib/registry" in dockerfile
    # The image's own config, the service's variables; here on a temporary directory and port.
    env = clean_env(**service["environment"], REGISTRY_HTTP_ADDR="127.0.0.1:0",
                    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=tmp_path / "data")
    b = Served(tmp_path, "compose", [IMAGE_CONFIG], env)
    try:
        d = push_blob(b.url, "team/app", b"through compose's settings")
        assert requests.get(f"{b.url}/v2/team/app/blobs/{d}").content == b"through compose's settings"
        assert requests.delete(f"{b.url}/v2/team/app/blobs/{d}").status_code == 202  # delete enabled
    finally:
        b.stop()


def test_compose_s3_replicas_share_the_bucket_and_redis(tmp_path, seaweed):
    compose = yaml.safe_load(open(os.path.join(DEPLOY, "compose.s3.yaml")))
    service = compose["services"]["registry"]
    assert service["deploy"]["replicas"] == 2
    env = dict(service["environment"])
    redis_password = env["REGISTRY_REDIS_PASSWORD"]
    assert f"--requirepass {redis_password}" in compose["services"]["redis"]["command"]
    # The SeaweedFS identity the compose file mounts is the key the registry uses.
    identities = json.load(open(os.path.join(DEPLOY, "seaweedfs-s3.json")))["identities"]
    assert identities[0]["credentials"][0] == {"accessKey": env["AWS_ACCESS_KEY_ID"],
                                               "secretKey": env["AWS_SECRET_ACCESS_KEY"]}
    seaweed.make_bucket(env["REGISTRY_STORAGE_S3_BUCKET"])
    redis, redis_port = redis_with_password(tmp_path, redis_password)
    # The hosts compose names are this test's SeaweedFS and Redis; the keys are SeaweedFS's here.
    local = seaweed.config("x")
    env.update(REGISTRY_STORAGE_S3_REGIONENDPOINT=seaweed.endpoint, REGISTRY_REDIS_ADDR=f"127.0.0.1:{redis_port}",
               AWS_ACCESS_KEY_ID=local["accesskey"], AWS_SECRET_ACCESS_KEY=local["secretkey"],
               REGISTRY_STORAGE_S3_ROOTDIRECTORY=f"/compose-{os.urandom(4).hex()}", REGISTRY_HTTP_ADDR="127.0.0.1:0")
    replicas = []
    try:
        for i in range(2):
            replicas.append(Served(tmp_path, f"replica{i}", [IMAGE_CONFIG], clean_env(**env)))
        one, two = replicas
        assert "storage=s3" in one.log.read_text() and 'cache="redis ' in one.log.read_text()
        # An upload begun on one replica and finished on the other, then pulled from both.
        data = os.urandom(100_000)
        r = requests.post(f"{one.url}/v2/team/app/blobs/uploads/")
        location = absolute(one.url, r.headers["Location"]).replace(one.url, two.url)
        assert requests.put(location, params={"digest": digest(data)}, data=data).status_code == 201
        for replica in replicas:
            assert requests.get(f"{replica.url}/v2/team/app/blobs/{digest(data)}").content == data
        keys = subprocess.run(["redis-cli", "-p", str(redis_port), "-a", redis_password, "--no-auth-warning",
                               "--scan"], capture_output=True, text=True, check=True).stdout
        assert keys.strip(), "nothing in Redis"
    finally:
        for replica in replicas:
            replica.stop()
        redis.kill()
        redis.wait()


def test_kubernetes_manifests_configure_a_read_only_docker_hub_mirror_on_s3(tmp_path, seaweed):
    docs = {}
    for name in ("berth.yaml", "redis.yaml"):
        for doc in yaml.safe_load_all(open(os.path.join(DEPLOY, "kubernetes", name))):
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
    secret = docs[("Secret", "berth")]["stringData"]
    config = yaml.safe_load(docs[("ConfigMap", "berth")]["data"]["config.yml"])
    deployment = docs[("Deployment", "berth")]["spec"]
    pod = deployment["template"]["spec"]
    container = pod["containers"][0]
    assert deployment["replicas"] >= 2 and config["storage"]["cache"]["blobdescriptor"] == "redis"
    assert container["args"] == [f"{container['volumeMounts'][0]['mountPath']}/config.yml"]
    drain = int(config["http"]["draintimeout"].rstrip("s"))
    assert pod["terminationGracePeriodSeconds"] > drain
    # Redis's password is the one Berth is given.
    redis_env = docs[("Deployment", "redis")]["spec"]["template"]["spec"]["containers"][0]["env"][0]
    assert redis_env["valueFrom"]["secretKeyRef"] == {"name": "berth", "key": "REGISTRY_REDIS_PASSWORD"}

    # The ConfigMap's file as it is, the Secret as the environment; the bucket, the store's
    # endpoint and Redis's address are this test's.
    path = tmp_path / "config.yml"
    path.write_text(docs[("ConfigMap", "berth")]["data"]["config.yml"])
    redis, redis_port = redis_with_password(tmp_path, secret["REGISTRY_REDIS_PASSWORD"])
    b = None
    try:
        bucket = seaweed.make_bucket(config["storage"]["s3"]["bucket"])
        local = seaweed.config("x")
        debug_port = free_port()
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert config["http"]["debug"]["addr"] == f":{ports['debug']}" and config["http"]["addr"] == f":{ports['http']}"
        env = clean_env(**{**secret, "AWS_ACCESS_KEY_ID": local["accesskey"], "AWS_SECRET_ACCESS_KEY": local["secretkey"]},
                        REGISTRY_STORAGE_S3_REGIONENDPOINT=seaweed.endpoint, REGISTRY_STORAGE_S3_FORCEPATHSTYLE="true",
                        REGISTRY_STORAGE_S3_BUCKET=bucket, REGISTRY_REDIS_ADDR=f"127.0.0.1:{redis_port}",
                        REGISTRY_HTTP_ADDR="127.0.0.1:0", REGISTRY_HTTP_DEBUG_ADDR=f"127.0.0.1:{debug_port}")
        b = Served(tmp_path, "kubernetes", [str(path)], env)
        text = b.log.read_text()
        # (The ConfigMap asks for JSON logs.)
        assert "mirroring upstream dockerhub" in text and '"storage":"s3"' in text and '"cache":"redis ' in text
        # The probes answer, each on the port it names.
        on = {"http": b.url, "debug": f"http://127.0.0.1:{debug_port}"}
        for probe in ("readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            assert requests.get(f"{on[get['port']]}{get['path']}").status_code == 200, probe
        annotations = deployment["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(ports["debug"])
        scraped = requests.get(f"{on['debug']}{annotations['prometheus.io/path']}")
        assert scraped.status_code == 200 and "berth_http_requests_total" in scraped.text
        # Every name belongs to Docker Hub: nothing can be pushed, and what `allow` does not
        # name is refused before anything is asked upstream.
        assert requests.post(f"{b.url}/v2/team/app/blobs/uploads/").status_code in (403, 405)
        r = requests.get(f"{b.url}/v2/someone/else/manifests/latest")
        assert r.status_code == 403 and "DENIED" in r.text
    finally:
        if b:
            b.stop()
        redis.kill()
        redis.wait()
