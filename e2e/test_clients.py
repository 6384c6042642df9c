"""Real clients against the real binary: Docker engine, skopeo, podman, containerd, and registry:2
sharing a data directory with Berth in both directions."""
import json
import os
import shutil
import subprocess
import tempfile

import requests

from conftest import OCI_MANIFEST, digest, image, put_manifest
from peers import Containerd, Dockerd, Registry2, docker_archive, oci_image_tar_layer, sha256_file


def skopeo(*args, check=True):
    r = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed: {r.stderr}")
    return r


def archive(tmp_path, tag="team/tool:v1", layers=2, size=300_000):
    path = str(tmp_path / "image.tar")
    docker_archive(path, tag, [oci_image_tar_layer({f"f{i}": os.urandom(size)}) for i in range(layers)])
    return path


def pull_to_oci(url, ref, directory):
    skopeo("copy", "--src-tls-verify=false", f"docker://{url}/{ref}", f"oci:{directory}:pulled")
    blobs = os.path.join(directory, "blobs", "sha256")
    # Every blob pulled must hash to its name: what the registry served is what was pushed.
    for name in os.listdir(blobs):
        assert sha256_file(os.path.join(blobs, name)) == "sha256:" + name
    return sorted(os.listdir(blobs))


def test_docker_push_pull_delete(berth, tmp_path):
    os.makedirs(tmp_path / "docker")
    d = Dockerd(str(tmp_path / "docker"))
    try:
        host = f"127.0.0.1:{berth.port}"
        rootfs = oci_image_tar_layer({"etc/hello": b"hello from berth\n", "big": os.urandom(2_000_000)})
        d.docker("import", "-", f"{host}/team/app:v1", input=rootfs)
        out = d.docker("push", f"{host}/team/app:v1").stdout.decode()
        assert "digest: sha256:" in out
        pushed = out.split("digest: ")[1].split()[0]
        d.docker("rmi", f"{host}/team/app:v1")
        d.docker("pull", f"{host}/team/app:v1")
        digests = json.loads(d.docker("inspect", f"{host}/team/app:v1").stdout)[0]["RepoDigests"]
        assert f"{host}/team/app@{pushed}" in digests

        r = requests.delete(f"{berth.url}/v2/team/app/manifests/{pushed}")
        assert r.status_code == 202
        d.docker("rmi", f"{host}/team/app:v1")
        r = d.docker("pull", f"{host}/team/app:v1", check=False)
        assert r.returncode != 0 and b"not found" in (r.stderr + r.stdout).lower()
    finally:
        d.stop()


def test_docker_registry_mirror(berth, tmp_path):
    skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive(tmp_path)}",
           f"docker://127.0.0.1:{berth.port}/library/alpine:3.20")
    os.makedirs(tmp_path / "docker")
    d = Dockerd(str(tmp_path / "docker"), mirror=berth.url)
    try:
        d.docker("pull", "alpine:3.20")  # no internet here: only the mirror can answer
        assert "HEAD /v2/library/alpine/manifests/3.20" in berth.logs()
    finally:
        d.stop()


def test_skopeo_copy_inspect_list_delete(berth, tmp_path):
    ref = f"127.0.0.1:{berth.port}/team/tool"
    skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive(tmp_path)}", f"docker://{ref}:v1")
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", f"docker://{ref}:v1", f"docker://{ref}:v2")
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}:v1").stdout)
    assert info["Architecture"] == "amd64" and len(info["Layers"]) == 2
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{ref}").stdout)["Tags"]
    assert sorted(tags) == ["v1", "v2"]
    blobs = pull_to_oci(f"127.0.0.1:{berth.port}", "team/tool:v1", str(tmp_path / "oci"))
    assert len(blobs) == 4  # manifest, config, two layers
    skopeo("delete", "--tls-verify=false", f"docker://{ref}:v1")
    assert skopeo("inspect", "--tls-verify=false", f"docker://{ref}:v1", check=False).returncode != 0
    # Deleting by digest removed every tag of that manifest.
    assert skopeo("inspect", "--tls-verify=false", f"docker://{ref}:v2", check=False).returncode != 0


def test_containerd_pull_through_hosts_toml(berth, tmp_path):
    skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive(tmp_path)}",
           f"docker://127.0.0.1:{berth.port}/team/app:v1")
    hosts = tmp_path / "hosts" / "docker.io"
    hosts.mkdir(parents=True)
    (hosts / "hosts.toml").write_text(
        f'server = "https://registry-1.docker.io"\n[host."http://127.0.0.1:{berth.port}"]\n'
        f'  capabilities = ["pull", "resolve"]\n')
    os.makedirs(tmp_path / "containerd")
    c = Containerd(str(tmp_path / "containerd"))
    try:
        c.ctr("images", "pull", "--hosts-dir", str(tmp_path / "hosts"), "--plain-http", "docker.io/team/app:v1")
        assert "docker.io/team/app:v1" in c.ctr("images", "ls", "-q").stdout
        assert "/v2/team/app/manifests/v1?ns=docker.io" in berth.logs()
    finally:
        c.stop()


def test_registry2_data_is_served_by_berth(start_berth, tmp_path):
    data = str(tmp_path / "shared")
    r2 = Registry2(str(tmp_path), data)
    try:
        skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive(tmp_path)}",
               f"docker://127.0.0.1:{r2.port}/team/from-r2:v1")
        pushed = json.loads(skopeo("inspect", "--tls-verify=false",
                                   f"docker://127.0.0.1:{r2.port}/team/from-r2:v1").stdout)["Digest"]
        expected = pull_to_oci(f"127.0.0.1:{r2.port}", "team/from-r2:v1", str(tmp_path / "via-r2"))
    finally:
        r2.stop()
    b = start_berth({"storage": {"filesystem": {"rootdirectory": data}}})
    host = f"127.0.0.1:{b.port}"
    assert pull_to_oci(host, "team/from-r2:v1", str(tmp_path / "by-tag")) == expected
    assert pull_to_oci(host, f"team/from-r2@{pushed}", str(tmp_path / "by-digest")) == expected
    assert requests.get(f"{b.url}/v2/_catalog").json()["repositories"] == ["team/from-r2"]
    assert requests.get(f"{b.url}/v2/team/from-r2/tags/list").json()["tags"] == ["v1"]


def test_berth_data_is_served_by_registry2(start_berth, tmp_path):
    data = str(tmp_path / "shared")
    b = start_berth({"storage": {"filesystem": {"rootdirectory": data}}})
    host = f"127.0.0.1:{b.port}"
    skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive(tmp_path)}", f"docker://{host}/team/from-berth:v1")
    pushed = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{host}/team/from-berth:v1").stdout)["Digest"]
    expected = pull_to_oci(host, "team/from-berth:v1", str(tmp_path / "via-berth"))
    b.stop()
    r2 = Registry2(str(tmp_path), data)
    try:
        r2host = f"127.0.0.1:{r2.port}"
        assert pull_to_oci(r2host, "team/from-berth:v1", str(tmp_path / "by-tag")) == expected
        assert pull_to_oci(r2host, f"team/from-berth@{pushed}", str(tmp_path / "by-digest")) == expected
        assert requests.get(f"{r2.url}/v2/_catalog").json()["repositories"] == ["team/from-berth"]
    finally:
        r2.stop()


def test_a_tag_moved_by_another_process_is_answered_at_once(start_berth, tmp_path):
    """Berth answers pulls of a manifest it has served from memory, on the event loop, but reads
    the tag's link every time: a tag moved by registry:2 (which rewrites the link in place) or by
    another Berth (which renames a new link over it) on the same data directory is answered at
    once, including a move back to a manifest Berth still holds."""
    data = str(tmp_path / "shared")
    a = start_berth({"storage": {"filesystem": {"rootdirectory": data}}})
    other = start_berth({"storage": {"filesystem": {"rootdirectory": data}}})
    r2 = Registry2(str(tmp_path), data)
    accept = {"Accept": OCI_MANIFEST}

    def latest():
        r = requests.get(f"{a.url}/v2/team/app/manifests/latest", headers=accept)
        assert r.status_code == 200, r.text
        assert r.headers["Docker-Content-Digest"] == digest(r.content)
        return r.content

    try:
        v1 = image(a.url, "team/app", layers=(b"layer one",))
        v2 = image(a.url, "team/app", layers=(b"layer two",))
        assert put_manifest(a.url, "team/app", "latest", v1).status_code == 201
        assert latest() == v1 and latest() == v1  # the second is answered from memory
        assert put_manifest(r2.url, "team/app", "latest", v2).status_code == 201  # in place
        assert latest() == v2 and latest() == v2
        assert put_manifest(r2.url, "team/app", "latest", v1).status_code == 201  # back to a held one
        assert latest() == v1
        assert put_manifest(other.url, "team/app", "latest", v2).status_code == 201  # renamed over
        assert latest() == v2
        assert requests.delete(f"{other.url}/v2/team/app/manifests/latest").status_code == 202
        assert requests.get(f"{a.url}/v2/team/app/manifests/latest", headers=accept).status_code == 404
    finally:
        r2.stop()


def test_podman_pull_tag_push(berth, tmp_path):
    host = f"127.0.0.1:{berth.port}"
    skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive(tmp_path)}", f"docker://{host}/team/app:v1")
    # podman refuses a runroot path longer than 50 characters, so not under pytest's tmp_path.
    root = tempfile.mkdtemp(prefix="podman-")

    def podman(*args):
        r = subprocess.run(["podman", "--root", f"{root}/root", "--runroot", f"{root}/run", "--storage-driver", "vfs",
                            *args], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"podman {' '.join(args)}: {r.stderr}"
        return r.stdout

    try:
        podman("pull", "--tls-verify=false", f"{host}/team/app:v1")
        podman("tag", f"{host}/team/app:v1", f"{host}/team/copy:v2")
        podman("push", "--tls-verify=false", f"{host}/team/copy:v2")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert requests.get(f"{berth.url}/v2/team/copy/tags/list").json()["tags"] == ["v2"]
    pulled = pull_to_oci(host, "team/copy:v2", str(tmp_path / "oci"))
    assert len(pulled) == 4
