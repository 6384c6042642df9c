"""Berth's container image (deploy/Dockerfile, built by deploy/build-image.sh from the binary under
test) run by a real Docker engine the way the registry:2 image is run: its own config at
/etc/docker/registry/config.yml, data in the /var/lib/registry volume, REGISTRY_* variables,
and the Docker client pushing and pulling through it. Host networking: the engine here has no
bridge. The container has Docker's default capabilities only, as in production."""
import json
import os
import shutil
import subprocess
import tempfile

import requests

from conftest import BERTH, ROOT
from peers import Dockerd, docker_archive, free_port, oci_image_tar_layer, wait_for

TAG = "berth-e2e:latest"


def build_image(d):
    subprocess.run([os.path.join(ROOT, "deploy", "build-image.sh"), BERTH, TAG], env=d.env, check=True,
                   capture_output=True, timeout=600)


def test_image_runs_like_registry2s(tmp_path):
    # The engine's sockets live under its root, within the 108 bytes a socket path may have:
    # a short root, not this test's temporary directory.
    engine = tempfile.mkdtemp(prefix="berth-image-")
    d = Dockerd(engine)
    container = None
    try:
        build_image(d)
        config = json.loads(d.docker("image", "inspect", TAG).stdout)[0]["Config"]
        assert config["Entrypoint"] == ["/bin/berth"]
        assert config["Cmd"] == ["/etc/docker/registry/config.yml"]
        assert "/var/lib/registry" in config["Volumes"] and "5000/tcp" in config["ExposedPorts"]

        port = free_port()
        data = tmp_path / "data"
        data.mkdir()
        # The image's own config, with the address moved as registry:2 users move it.
        container = d.docker("run", "-d", "--network", "host", "-e", f"REGISTRY_HTTP_ADDR=127.0.0.1:{port}",
                             "-v", f"{data}:/var/lib/registry", TAG).stdout.decode().strip()
        url = f"http://127.0.0.1:{port}"

        def up():
            try:
                return requests.get(f"{url}/v2/", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False
        wait_for(up, timeout=30, what="berth in its container")
        # registry:2's image config: its header, and the storage health check.
        assert requests.get(f"{url}/v2/").headers["X-Content-Type-Options"] == "nosniff"
        assert requests.get(f"{url}/debug/health").status_code == 200

        archive = str(tmp_path / "img.tar")
        ref = f"127.0.0.1:{port}/team/app:v1"
        docker_archive(archive, ref, [oci_image_tar_layer({"hello.txt": b"from the image test\n"})])
        d.docker("load", "-i", archive)
        d.docker("push", ref)
        # In the volume, in registry:2's layout.
        tag = data / "docker/registry/v2/repositories/team/app/_manifests/tags/v1/current/link"
        assert tag.read_text().startswith("sha256:")
        d.docker("rmi", ref)
        d.docker("pull", ref)
        assert ref in d.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode()
        # registry:2 users' cron job, unchanged: their binary's path, the image's config.
        gc = d.docker("exec", container, "bin/registry", "garbage-collect", "--dry-run",
                      "/etc/docker/registry/config.yml").stdout.decode()
        assert "team/app: marking manifest sha256:" in gc and "blobs marked, 0 blobs" in gc, gc
        # Still serving: every connection above was accepted inside the container.
        assert d.docker("inspect", "-f", "{{.State.Running}}", container).stdout.decode().strip() == "true"
    finally:
        if container:
            logs = d.docker("logs", container, check=False)
            print(logs.stdout.decode(errors="replace"), logs.stderr.decode(errors="replace"))
            d.docker("rm", "-f", container, check=False)
        d.stop()
        # The engine leaves its network namespace mounted under its root.
        subprocess.run(["umount", os.path.join(engine, "exec", "netns", "default")], capture_output=True)
        shutil.rmtree(engine, ignore_errors=True)
