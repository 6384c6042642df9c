"""Garbage collection: `berth garbage-collect --delete-untagged` and registry:2's
`garbage-collect --delete-untagged`, each on its own copy of one store written in registry:2's
layout (filesystem): repositories of two images each, one tagged and one untagged, plus an
orphan blob; everything dated two days back, so that Berth's grace period keeps nothing.
Time and peak RSS of each command; both must find the same blobs eligible."""
import hashlib
import os
import re
import shutil
import subprocess
import time

from workloads import check

LAYERS = 3  # per image: a config and 3 layers; two images and an orphan make 11 blobs per repository


def declare(metric, ctx):
    metric(f"garbage-collect, {ctx.gc_repos} repos / {ctx.gc_repos * blobs_per_repo()} blobs", "s")
    metric("garbage-collect peak RSS", "MiB")


def blobs_per_repo():
    return 2 * (2 + LAYERS) + 1


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def build_store(root, repos):
    """The store, written directly (pushing 20,000 blobs through a registry would take longer
    than the collections measured). Returns how many blobs --delete-untagged makes eligible."""
    v2 = os.path.join(root, "docker/registry/v2")

    def blob(data):
        hexd = hashlib.sha256(data).hexdigest()
        write(f"{v2}/blobs/sha256/{hexd[:2]}/{hexd}/data", data)
        return "sha256:" + hexd

    def link(path, digest):
        write(f"{v2}/repositories/{path}/link", digest.encode())

    for r in range(repos):
        name = f"bench/gc-{r:05d}"
        for which in ("tagged", "untagged"):
            config = blob(f'{{"os":"linux","repo":"{name}","image":"{which}"}}'.encode())
            layers = [blob(os.urandom(64) + f"{name} {which} {i}".encode()) for i in range(LAYERS)]
            manifest = ('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
                        f'"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":1}},'
                        '"layers":[' + ",".join(
                            f'{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{l}","size":1}}'
                            for l in layers) + "]}").encode()
            digest = blob(manifest)
            for d in [config] + layers:
                link(f"{name}/_layers/sha256/{d[7:]}", d)
            link(f"{name}/_manifests/revisions/sha256/{digest[7:]}", digest)
            if which == "tagged":
                link(f"{name}/_manifests/tags/latest/current", digest)
                link(f"{name}/_manifests/tags/latest/index/sha256/{digest[7:]}", digest)
        orphan = blob(os.urandom(64))
        link(f"{name}/_layers/sha256/{orphan[7:]}", orphan)
    old = time.time() - 2 * 86400
    for directory, _, files in os.walk(root):
        for f in files:
            os.utime(os.path.join(directory, f), (old, old))
    return repos * (2 + LAYERS + 1)  # the untagged image's manifest, config and layers, and the orphan


def start(binary, work, ctx):
    gc_work = os.path.join(work, "gc")
    shutil.rmtree(gc_work, ignore_errors=True)
    store = os.path.join(gc_work, "store")
    print(f"  writing a store of {ctx.gc_repos} repositories, {ctx.gc_repos * blobs_per_repo()} blobs", flush=True)
    eligible = build_store(store, ctx.gc_repos)
    return {"binary": binary, "work": gc_work, "store": store, "eligible": eligible}


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0


def run(command, config, output):
    """Runs a collection; returns (seconds, peak RSS in MiB, standard output). The peak is the
    process's own high-water mark, read until it exits (a child's rusage would count the
    harness's memory it was forked with)."""
    started = time.monotonic()
    with open(output, "w+") as out:
        p = subprocess.Popen(command + [config], stdout=out, stderr=subprocess.DEVNULL)
        peak = 0
        while p.poll() is None:
            try:
                peak = max(peak, peak_rss_mib(p.pid))
            except (OSError, ValueError):
                pass  # exiting
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        out.seek(0)
        text = out.read()
    check(p.returncode == 0, f"{command[0]} garbage-collect exited {p.returncode}")
    return elapsed, peak, text


def measure_round(round_, ctx, setup, results):
    order = [("berth", [setup["binary"], "garbage-collect", "--delete-untagged"]),
             ("registry2", ["docker-registry", "garbage-collect", "--delete-untagged"])]
    if round_ % 2:
        order.reverse()
    for side, command in order:
        copy = os.path.join(setup["work"], f"{side}-{round_}")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(setup["store"], copy, symlinks=True)
        config = os.path.join(setup["work"], f"{side}-{round_}.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {copy}\n")
        os.sync()

        def measure(command=command, config=config, copy=copy):
            seconds, rss, out = run(command, config, config + ".out")
            found = re.search(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion", out)
            check(found and int(found.group(2)) == setup["eligible"],
                  f"{command[0]} found {found and found.group(2)} blobs eligible, not {setup['eligible']}")
            left = sum(1 for _, _, files in os.walk(os.path.join(copy, "docker/registry/v2/blobs")) if "data" in files)
            total = ctx.gc_repos * blobs_per_repo()
            check(left == total - setup["eligible"], f"{left} blobs left after {command[0]}'s run, not "
                                                     f"{total - setup['eligible']}")
            return {f"garbage-collect, {ctx.gc_repos} repos / {total} blobs": seconds,
                    "garbage-collect peak RSS": rss}

        results.run(side, "garbage-collect", measure)
        shutil.rmtree(copy, ignore_errors=True)


def stop(setup):
    shutil.rmtree(setup["work"], ignore_errors=True)
