"""`berth garbage-collect`: registry:2's command on registry:2's data (compared with
`docker-registry garbage-collect`), every remaining image pulls after a run, pushes racing
repeated runs never leave a manifest without its blobs, the grace period, bad input, and the
mirror's cache left to its own expiry."""
import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest
import requests
import yaml

from conftest import (BERTH, OCI_INDEX, OCI_MANIFEST, STORAGE, absolute, digest, filesystem_only, image,
                      push_blob, put_manifest)
from peers import Registry2, wait_for
from test_mirror import mirror_config, upstream  # noqa: F401 (a fixture)

V2 = "docker/registry/v2"


def gc(config_path, *flags, check=True):
    p = subprocess.run([BERTH, "garbage-collect", *flags, config_path], capture_output=True, text=True,
                       timeout=300)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def registry2_gc(config_path, *flags):
    p = subprocess.run(["docker-registry", "garbage-collect", *flags, config_path], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def eligible(output, kind="blob"):
    prefix = f"{kind} eligible for deletion: "
    return {line[len(prefix):] for line in output.splitlines() if line.startswith(prefix)}


def write_config(tmp_path, name, storage, **extra):
    """A configuration for the command-line runs, with a grace period of zero unless said."""
    config = {"version": 0.1, "log": {"level": "info"}, "storage": storage}
    config["storage"].setdefault("maintenance", {"garbagecollect": {"graceperiod": "0s"}})
    config.update(extra)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def berth_config(tmp_path, b, grace="0s"):
    """The configuration a running Berth has (its storage and cache), for a collector beside it."""
    config = json.loads(json.dumps(b.config))
    config["storage"]["maintenance"] = {"garbagecollect": {"graceperiod": grace}}
    path = tmp_path / f"gc-{os.path.basename(b.tmp.rstrip('/'))}.yml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


class Store:
    """What registry:2 was given, by name: an image tagged twice (one untagged), a tagged index
    of untagged children, a referrer of a tagged manifest, an orphan blob, a deleted manifest."""

    def __init__(self, url):
        self.url = url
        self.m1 = image(url, "team/app", layers=(b"L1", b"L2"))
        assert put_manifest(url, "team/app", "v1", self.m1).status_code == 201
        self.m2 = image(url, "team/app", layers=(b"L3",))
        assert put_manifest(url, "team/app", "v2", self.m2).status_code == 201
        self.m3 = image(url, "team/app", layers=(b"L4",))
        assert put_manifest(url, "team/app", "v2", self.m3).status_code == 201  # m2 is untagged now
        self.c1 = image(url, "team/multi", layers=(b"A1",))
        self.c2 = image(url, "team/multi", layers=(b"A2",))
        for child in (self.c1, self.c2):
            assert put_manifest(url, "team/multi", digest(child), child).status_code == 201
        self.index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": digest(c), "size": len(c)} for c in (self.c1, self.c2)]}).encode()
        assert put_manifest(url, "team/multi", "latest", self.index, OCI_INDEX).status_code == 201
        self.orphan = push_blob(url, "team/app", b"orphan")
        self.m4 = image(url, "team/old", layers=(b"L5",))
        assert put_manifest(url, "team/old", "x", self.m4).status_code == 201
        assert requests.delete(f"{url}/v2/team/old/manifests/{digest(self.m4)}").status_code == 202
        self.referrer = image(url, "team/app", layers=(b"SIG",), extra={
            "subject": {"mediaType": OCI_MANIFEST, "digest": digest(self.m1), "size": len(self.m1)},
            "artifactType": "application/x-signature"})
        assert put_manifest(url, "team/app", digest(self.referrer), self.referrer).status_code == 201

    def registry2_mistakes(self):
        """What registry:2's --delete-untagged deletes that a tag still reaches: the children of
        the tagged index (their links and layers; the index marks their bytes), and the referrer
        of the tagged v1 (with its blob)."""
        manifests = {digest(self.c1), digest(self.c2), digest(self.referrer)}
        return manifests, {digest(self.referrer), digest(b"A1"), digest(b"A2"), digest(b"SIG")}


@pytest.fixture
def registry2_store(tmp_path):
    data = tmp_path / "r2data"
    r2 = Registry2(str(tmp_path), str(data))
    try:
        store = Store(r2.url)
    finally:
        r2.stop()
    store.data = str(data)
    return store


def copy_of(store, tmp_path, name):
    target = tmp_path / name
    shutil.copytree(store.data, target, symlinks=True)
    return str(target)


@filesystem_only
def test_dry_run_names_what_registry2_names_except_its_mistakes(tmp_path, registry2_store):
    store = registry2_store
    berth_cfg = write_config(tmp_path, "berth.yml", {"filesystem": {"rootdirectory": store.data}})
    r2_cfg = write_config(tmp_path, "r2.yml", {"filesystem": {"rootdirectory": store.data}})

    # Without --delete-untagged, every line is the same: what is marked, and what is eligible.
    theirs = registry2_gc(r2_cfg, "--dry-run")
    ours = gc(berth_cfg, "--dry-run").stdout
    assert sorted(ours.splitlines()) == sorted(theirs.splitlines())
    assert eligible(ours) == {store.orphan, digest(store.m4), digest(b"L5")}
    assert "15 blobs marked, 3 blobs and 0 manifests eligible for deletion" in ours.splitlines()

    # With it, Berth names what registry:2 names, less what registry:2 gets wrong.
    # (registry:2's flags with values, as cron jobs and charts often write them.)
    theirs = registry2_gc(r2_cfg, "--dry-run=true", "--delete-untagged=true")
    ours = gc(berth_cfg, "--dry-run=true", "--delete-untagged=true").stdout
    wrong_manifests, wrong_blobs = store.registry2_mistakes()
    assert eligible(theirs, "manifest") == eligible(ours, "manifest") | wrong_manifests
    assert eligible(theirs) == eligible(ours) | wrong_blobs
    assert eligible(ours, "manifest") == {digest(store.m2)}
    assert eligible(ours) == {store.orphan, digest(store.m4), digest(b"L5"), digest(store.m2), digest(b"L3")}
    # A dry run changed nothing.
    assert os.path.exists(f"{store.data}/{V2}/blobs/sha256/{store.orphan[7:9]}/{store.orphan[7:]}/data")


def pull_everything(url, name, reference, accept=(OCI_MANIFEST, OCI_INDEX)):
    """Pulls a manifest and all it references (children of an index too); returns the digests."""
    r = requests.get(f"{url}/v2/{name}/manifests/{reference}", headers={"Accept": ",".join(accept)})
    assert r.status_code == 200, (name, reference, r.status_code, r.text)
    body = r.json()
    pulled = [r.headers["Docker-Content-Digest"]]
    for child in body.get("manifests", []):
        pulled += pull_everything(url, name, child["digest"], accept)
    for blob in [body["config"]] + body["layers"] if "config" in body else []:
        b = requests.get(f"{url}/v2/{name}/blobs/{blob['digest']}")
        assert b.status_code == 200, (name, blob, b.status_code)
        assert digest(b.content) == blob["digest"]
        pulled.append(blob["digest"])
    return pulled


@filesystem_only
def test_after_a_run_every_tagged_image_pulls_where_registry2s_breaks_the_index(
        tmp_path, registry2_store, start_berth):
    store = registry2_store
    ours_data = copy_of(store, tmp_path, "ours")
    theirs_data = copy_of(store, tmp_path, "theirs")
    p = gc(write_config(tmp_path, "berth.yml", {"filesystem": {"rootdirectory": ours_data}}), "--delete-untagged")
    deleted = set(re.findall(r'msg="Deleting blob: ([^"]+)"', p.stderr))
    assert {os.path.basename(path) for path in deleted} == {
        d[7:] for d in (store.orphan, digest(store.m4), digest(b"L5"), digest(store.m2), digest(b"L3"))}
    registry2_gc(write_config(tmp_path, "r2.yml", {"filesystem": {"rootdirectory": theirs_data}}),
                 "--delete-untagged")

    b = start_berth({"storage": {"filesystem": {"rootdirectory": ours_data}}})
    for name, tag in [("team/app", "v1"), ("team/app", "v2"), ("team/multi", "latest")]:
        pull_everything(b.url, name, tag)
    # The referrer of v1 stays (registry:2 deletes it).
    pull_everything(b.url, "team/app", digest(store.referrer))
    # The untagged manifest is gone, and so is its layer.
    assert requests.get(f"{b.url}/v2/team/app/manifests/{digest(store.m2)}").status_code == 404
    assert requests.head(f"{b.url}/v2/team/app/blobs/{digest(b'L3')}").status_code == 404
    # A real client pulls the tagged index with every platform.
    out = tmp_path / "oci"
    subprocess.run(["skopeo", "copy", "--all", "--src-tls-verify=false",
                    f"docker://127.0.0.1:{b.port}/team/multi:latest", f"oci:{out}:latest"],
                   check=True, capture_output=True, timeout=120)

    # registry:2's own run left the index naming children it deleted.
    os.makedirs(tmp_path / "r2serve")
    r2 = Registry2(str(tmp_path / "r2serve"), theirs_data)
    try:
        r = requests.get(f"{r2.url}/v2/team/multi/manifests/{digest(store.c1)}", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 404
    finally:
        r2.stop()


def test_pushes_racing_repeated_runs_never_leave_a_manifest_without_its_blobs(tmp_path, start_berth):
    """Each push reuses an old layer that the manifest deleted before it left unreferenced (and
    that a run may be setting aside), finds it with HEAD as Docker does, and pushes again when
    the registry says a blob went; collectors with a one-second grace period run all the while.
    Every image pushed pulls at once, whole, even while a run has its blobs set aside."""
    b = start_berth()
    config_path = berth_config(tmp_path, b, grace="1s")
    name = "team/race"
    config = b'{"architecture":"amd64","os":"linux"}'
    pool = [os.urandom(3000) + bytes([i]) for i in range(4)]
    for blob in [config] + pool:
        push_blob(b.url, name, blob)
    time.sleep(1.5)  # older than the grace period, and referenced by nothing yet
    pushed, retries, runs = [], [0], [0]
    stop = threading.Event()

    def collect():
        # What each run did, for the reader of a failure.
        with open(tmp_path / "gc.log", "a") as log:
            while not stop.is_set():
                p = gc(config_path)
                log.write(f"=== run {runs[0]} at {time.time():.3f}\n{p.stdout}\n{p.stderr}\n")
                log.flush()
                runs[0] += 1

    def push_image(i):
        layers = [pool[i % len(pool)], os.urandom(2000)]
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": digest(config), "size": len(config)},
                               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                           "digest": digest(l), "size": len(l)} for l in layers]}).encode()
        with requests.Session() as s:
            for _ in range(20):
                for blob in [config] + layers:
                    if s.head(f"{b.url}/v2/{name}/blobs/{digest(blob)}").status_code == 200:
                        continue
                    r = s.post(f"{b.url}/v2/{name}/blobs/uploads/")
                    assert s.put(absolute(b.url, r.headers["Location"]), params={"digest": digest(blob)},
                                 data=blob).status_code == 201
                r = s.put(f"{b.url}/v2/{name}/manifests/latest", data=manifest,
                          headers={"Content-Type": OCI_MANIFEST})
                if r.status_code == 201:
                    return manifest
                assert r.status_code == 400 and "MANIFEST_BLOB_UNKNOWN" in r.text, r.text
                retries[0] += 1
        raise AssertionError("push kept failing")

    collector = threading.Thread(target=collect)
    collector.start()
    try:
        for i in range(60):
            pushed.append(push_image(i))
            assert pull_everything(b.url, name, digest(pushed[-1]))[0] == digest(pushed[-1])
            if i > 0 and digest(pushed[-2]) != digest(pushed[-1]):
                # The image before goes, so its pool layer is garbage until a push reuses it.
                assert requests.delete(f"{b.url}/v2/{name}/manifests/{digest(pushed[-2])}").status_code == 202
    finally:
        stop.set()
        collector.join()
    assert runs[0] >= 3, runs
    gc(config_path)
    # Whatever the runs removed, no manifest the registry still has lacks a blob.
    for manifest in pushed[:-1]:
        r = requests.get(f"{b.url}/v2/{name}/manifests/{digest(manifest)}", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 404
    assert pull_everything(b.url, name, "latest")[0] == digest(pushed[-1])
    print(f"{runs[0]} collections, {retries[0]} pushes retried")


def test_grace_period_keeps_young_blobs_and_bad_entries_are_reported(tmp_path, start_berth):
    b = start_berth()
    orphan = push_blob(b.url, "team/app", b"a fresh orphan")
    m = image(b.url, "team/app", layers=(b"kept layer",))
    assert put_manifest(b.url, "team/app", "v1", m).status_code == 201

    # The default grace period is an hour: a blob pushed now is not eligible.
    p = gc(berth_config(tmp_path, b, grace="1h"))
    assert eligible(p.stdout) == set() and "kept: younger than the grace period" in p.stderr
    assert requests.head(f"{b.url}/v2/team/app/blobs/{orphan}").status_code == 200
    p = gc(berth_config(tmp_path, b))
    assert eligible(p.stdout) == {orphan}
    # The serving Berth notices the run (its in-memory cache had the blob) within seconds.
    wait_for(lambda: requests.head(f"{b.url}/v2/team/app/blobs/{orphan}").status_code == 404, timeout=10,
             what="the serving Berth to forget the collected blob")
    pull_everything(b.url, "team/app", "v1")

    if STORAGE != "filesystem":
        return
    # A manifest that is not JSON, a missing manifest, a corrupt tag link: each is named by its
    # path, nothing is deleted for it, and the run completes.
    root = f"{b.data}/{V2}"
    bad = b"not json at all"
    for path, content in [(f"blobs/sha256/{digest(bad)[7:9]}/{digest(bad)[7:]}/data", bad),
                          (f"repositories/team/app/_manifests/revisions/sha256/{digest(bad)[7:]}/link", digest(bad)),
                          (f"repositories/team/app/_manifests/revisions/sha256/{'ab' * 32}/link", "sha256:" + "ab" * 32),
                          ("repositories/team/app/_manifests/tags/broken/current/link", "garbage")]:
        os.makedirs(os.path.dirname(f"{root}/{path}"), exist_ok=True)
        with open(f"{root}/{path}", "w" if isinstance(content, str) else "wb") as f:
            f.write(content)
    p = gc(berth_config(tmp_path, b))
    assert f"/{V2}/blobs/sha256/{digest(bad)[7:9]}/{digest(bad)[7:]}/data: manifest {digest(bad)}" in p.stderr
    assert "is not a JSON manifest" in p.stderr
    assert f"/{V2}/blobs/sha256/ab/{'ab' * 32}/data: data of manifest sha256:{'ab' * 32}" in p.stderr
    assert f"/{V2}/repositories/team/app/_manifests/tags/broken/current/link: corrupt tag link" in p.stderr
    assert "found 3 problem(s)" in p.stderr
    assert eligible(p.stdout) == set()
    assert os.path.exists(f"{root}/blobs/sha256/{digest(bad)[7:9]}/{digest(bad)[7:]}/data")
    pull_everything(b.url, "team/app", "v1")


@filesystem_only
def test_mirrored_content_is_left_to_the_mirrors_expiry(tmp_path, start_berth, upstream):  # noqa: F811
    b = start_berth(mirror_config(upstream))
    pull_everything(b.url, "up.test/team/app", "v1")
    p = gc(berth_config(tmp_path, b), "--delete-untagged")
    assert eligible(p.stdout) == set() and eligible(p.stdout, "manifest") == set()
    assert "up.test/team/app: marking manifest" in p.stdout
    upstream.stop()
    pull_everything(b.url, "up.test/team/app", "v1")
