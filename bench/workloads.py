"""The workloads, each run the same way against either server. `prepare_*` functions put the
data a workload needs in place (untimed, and checked); `measure_*` functions time one round and
return {metric: value}. Every measurement checks what it got, so a fast wrong answer fails the
run instead of scoring."""
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from client import Connection
from limits import ready_for_writes

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def location_target(response):
    """The path and query of an upload's `Location`, absolute or relative."""
    parts = urlsplit(response.header("location"))
    return parts.path + ("?" + parts.query if parts.query else "")


def with_query(target, query):
    return target + ("&" if "?" in target else "?") + query


# --- pushes -----------------------------------------------------------------------------------

def push_blob(port, repo, blob, digest, chunk=None):
    """POST then PUT ?digest (registry:2 ignores a single POST's body), or POST, PATCH chunks
    of `chunk` bytes, and a closing PUT. Returns seconds from the POST to the 201."""
    size = os.path.getsize(blob)
    with Connection(port) as c, open(blob, "rb") as f:
        start = time.perf_counter()
        r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
        check(r.status == 202, f"POST upload: {r.status}")
        target = location_target(r)
        if chunk:
            for offset in range(0, size, chunk):
                count = min(chunk, size - offset)
                r = c.request("PATCH", target, file=f, offset=offset, count=count, headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + count - 1}"})
                check(r.status == 202, f"PATCH at {offset}: {r.status}")
                target = location_target(r)
            r = c.request("PUT", with_query(target, f"digest={digest}"))
        else:
            r = c.request("PUT", with_query(target, f"digest={digest}"), file=f, count=size,
                          headers={"Content-Type": "application/octet-stream"})
        elapsed = time.perf_counter() - start
        check(r.status == 201, f"PUT upload: {r.status} {r.body[:200]!r}")
        check(r.header("docker-content-digest") == digest, "pushed blob has the wrong digest")
        r = c.request("HEAD", f"/v2/{repo}/blobs/{digest}")
        check(r.status == 200 and int(r.header("content-length")) == size, "pushed blob not served whole")
    return elapsed


def random_blob(path, size):
    """A file of `size` random bytes; returns its digest."""
    with open(path, "wb") as f:
        for offset in range(0, size, 1 << 20):
            f.write(os.urandom(min(1 << 20, size - offset)))
    return file_digest(path)


def push_blob_of_round(ctx, round_, kind):
    """A new blob for each round and kind of push, the same for both servers: a blob the server
    already holds is not stored again (by registry:2 nor Berth), which would measure less work."""
    path = os.path.join(ctx.work, f"push-{kind}-{round_}")
    if path not in ctx.push_blobs:
        ctx.push_blobs[path] = random_blob(path, ctx.blob_size)
    return path, ctx.push_blobs[path]


def measure_push(server, ctx, round_, chunked):
    kind = "chunked" if chunked else "monolithic"
    blob, digest = push_blob_of_round(ctx, round_, kind)
    ready_for_writes(ctx.work, 2 * ctx.blob_size)
    cpu = server.cpu_seconds()
    elapsed = push_blob(server.port, f"push/{kind}-{round_}", blob, digest,
                        chunk=ctx.chunk_size if chunked else None)
    return {f"push {kind}": ctx.blob_size / elapsed / 1e6,
            f"push {kind}, server CPU": (server.cpu_seconds() - cpu) / (ctx.blob_size / 1e9)}


# --- pulls ------------------------------------------------------------------------------------

PULL_REPO = "pull/blob"


def prepare_pull(server, ctx):
    push_blob(server.port, PULL_REPO, ctx.blob, ctx.blob_digest)
    verify_pull(server.port, f"/v2/{PULL_REPO}/blobs/{ctx.blob_digest}", ctx.blob_digest)


def verify_pull(port, path, digest):
    """One pull with every byte hashed (untimed: hashing in the client would cap the rate)."""
    h = hashlib.sha256()
    with Connection(port) as c:
        r = c.request("GET", path, discard=True, hasher=h)
    check(r.status == 200, f"GET {path}: {r.status}")
    check("sha256:" + h.hexdigest() == digest, f"GET {path} returned bytes with the wrong digest")


# One 256 MiB pull takes under 0.1 s on one stream, shorter than the hiccups of a shared
# machine: one-stream figures swung 2:1 from round to round. Each stream pulls the blob this
# many times (one after the other, on its own keep-alive connection) and the rate is taken over
# all of them. 16 streams pull once each: repeated, they drift apart, and the last pulls run with
# few streams left (Berth and the sendfile loop both lost 6–8 % that way).
PULLS_PER_STREAM = {1: 4}


def pulls_per_stream(streams):
    return PULLS_PER_STREAM.get(streams, 1)


def streams_label(streams):
    return f"{streams} stream{'s' if streams > 1 else ''}"


def parallel_pulls(port, path, size, streams):
    """`streams` concurrent connections, each pulling `path` pulls_per_stream(streams) times.
    Returns aggregate MB/s."""
    repeats = pulls_per_stream(streams)

    def pull(_):
        with Connection(port) as c:
            for _ in range(repeats):
                r = c.request("GET", path, discard=True)
                check(r.status == 200 and r.length == size, f"GET {path}: {r.status}, {r.length} bytes")

    start = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        list(pool.map(pull, range(streams)))
    return size * streams * repeats / (time.perf_counter() - start) / 1e6


def measure_pull(server, ctx, round_, streams):
    path = f"/v2/{PULL_REPO}/blobs/{ctx.blob_digest}"
    cpu = server.cpu_seconds()
    rate = parallel_pulls(server.port, path, ctx.blob_size, streams)
    pulled = ctx.blob_size * streams * pulls_per_stream(streams)
    cpu_per_gb = (server.cpu_seconds() - cpu) / (pulled / 1e9)
    verify_pull(server.port, path, ctx.blob_digest)
    name = f"pull, {streams_label(streams)}"
    return {name: rate, f"{name}, server CPU": cpu_per_gb}


def measure_sendfile_limit(sendfile, ctx, streams):
    """The bare sendfile loop under the same pulls as the servers."""
    rate = parallel_pulls(sendfile.port, "/", ctx.blob_size, streams)
    return {f"sendfile, {streams_label(streams)}": rate}


def measure_pull_memory(server, ctx, round_):
    path = f"/v2/{PULL_REPO}/blobs/{ctx.blob_digest}"
    server.reset_peak_rss()
    parallel_pulls(server.port, path, ctx.blob_size, ctx.memory_streams)
    return {f"peak RSS, {ctx.memory_streams} pulls": server.peak_rss_mib()}


# --- manifests and lists ------------------------------------------------------------------------

MANIFEST_REPO = "manifest/small"


def small_image(port, repo):
    """Pushes a config and one small layer; returns the manifest bytes that reference them."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = b"small layer for the manifest benchmark\n"
    descriptors = []
    with Connection(port) as c:
        for data, media_type in ((config, OCI_CONFIG), (layer, OCI_LAYER)):
            digest = sha256_digest(data)
            r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
            check(r.status == 202, f"POST upload: {r.status}")
            r = c.request("PUT", with_query(location_target(r), f"digest={digest}"), body=data)
            check(r.status == 201, f"PUT blob: {r.status}")
            descriptors.append({"mediaType": media_type, "digest": digest, "size": len(data)})
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptors[0],
                       "layers": descriptors[1:]}).encode()


def put_manifest(conn, repo, reference, manifest):
    r = conn.request("PUT", f"/v2/{repo}/manifests/{reference}", body=manifest,
                     headers={"Content-Type": OCI_MANIFEST})
    check(r.status == 201, f"PUT manifest {repo}:{reference}: {r.status} {r.body[:200]!r}")


def prepare_manifest(server, ctx):
    manifest = small_image(server.port, MANIFEST_REPO)
    with Connection(server.port) as c:
        put_manifest(c, MANIFEST_REPO, "latest", manifest)
        r = c.request("GET", f"/v2/{MANIFEST_REPO}/manifests/latest", headers={"Accept": OCI_MANIFEST})
        check(r.status == 200 and r.body == manifest, "manifest GET by tag returns other bytes")
        check(r.header("docker-content-digest") == sha256_digest(manifest), "manifest GET: wrong digest")
    return manifest


def wrk(url, connections, seconds, headers=()):
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    check("Non-2xx" not in out and "Socket errors" not in out, f"wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE).groups()
    p99_ms = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    return rps, p99_ms


def ab_head(url, connections, seconds, headers=()):
    args = ["ab", "-k", "-i", "-q", "-c", str(connections), "-t", str(seconds), "-n", "100000000"]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
    check(failed == 0 and "Non-2xx" not in out, f"ab saw failures:\n{out}")
    rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    p99_ms = float(re.search(r"^\s+99%\s+(\d+)", out, re.MULTILINE).group(1))
    return rps, p99_ms


def measure_manifest(server, ctx, round_, method, by_digest=False):
    reference = ctx.manifest_digest if by_digest else "latest"
    url = f"http://127.0.0.1:{server.port}/v2/{MANIFEST_REPO}/manifests/{reference}"
    rps, p99 = manifest_rate(url, ctx, method)
    if by_digest:
        return {f"manifest {method} by digest": rps}
    return {f"manifest {method} by tag": rps, f"manifest {method} p99": p99}


def manifest_rate(url, ctx, method):
    """(req/s, p99 ms) under the manifest load: wrk for GET, ab for HEAD (wrk waits for a
    HEAD's body)."""
    accept = [f"Accept: {OCI_MANIFEST}"]
    if method == "GET":
        return wrk(url, ctx.connections, ctx.seconds, accept)
    return ab_head(url, ctx.connections, ctx.seconds, accept)


def measure_nginx_limit(nginx, ctx, method):
    """nginx serving the same manifest bytes as a static file, under the same load."""
    rps, _ = manifest_rate(f"http://127.0.0.1:{nginx.port}/v2/{MANIFEST_REPO}/manifests/latest", ctx, method)
    return {f"nginx, manifest {method}": rps}


TAGS_REPO = "catalog/repo-0000"


def repo_name(i):
    return f"catalog/repo-{i:04d}"


def prepare_lists(server, ctx):
    """`ctx.repos` repositories with one tag each; the first also gets `ctx.tags` tags. Run on a
    fresh server, so the catalog holds exactly these repositories."""
    manifest = small_image(server.port, TAGS_REPO)
    config_digest = json.loads(manifest)["config"]["digest"]
    layer_digest = json.loads(manifest)["layers"][0]["digest"]

    def fill(indices):
        with Connection(server.port) as c:
            for i in indices:
                repo = repo_name(i)
                if i > 0:
                    for digest in (config_digest, layer_digest):
                        r = c.request("POST", f"/v2/{repo}/blobs/uploads/?mount={digest}&from={TAGS_REPO}")
                        check(r.status == 201, f"mount into {repo}: {r.status}")
                put_manifest(c, repo, "v1", manifest)

    def tag(indices):
        with Connection(server.port) as c:
            for i in indices:
                put_manifest(c, TAGS_REPO, f"tag-{i:04d}", manifest)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(fill, [range(k, ctx.repos, 4) for k in range(4)]))
        list(pool.map(tag, [range(k, ctx.tags - 1, 4) for k in range(4)]))
    check_lists(server, ctx)


def check_lists(server, ctx):
    with Connection(server.port) as c:
        tags = json.loads(c.request("GET", f"/v2/{TAGS_REPO}/tags/list").body)["tags"]
        check(len(tags) == ctx.tags, f"tags/list has {len(tags)} tags, not {ctx.tags}")
        repos = json.loads(c.request("GET", f"/v2/_catalog?n={ctx.repos}").body)["repositories"]
        check(repos == [repo_name(i) for i in range(ctx.repos)], "_catalog does not list the repositories in order")
        # n/last are honoured: the second page of 10 starts after the tenth repository.
        r = c.request("GET", f"/v2/_catalog?n=10&last={repo_name(9)}")
        page = json.loads(r.body)["repositories"]
        check(page == [repo_name(i) for i in range(10, 20)], f"_catalog?n=10&last=…: {page}")
        check(r.header("link") is not None, "_catalog page without a Link header")
    return tags


def check_tag_pages(server, ctx):
    """Berth honours n/last on tags/list too (registry:2 2.8.2 ignores them, so it is not asked)."""
    with Connection(server.port) as c:
        r = c.request("GET", f"/v2/{TAGS_REPO}/tags/list?n=10&last=tag-0009")
        page = json.loads(r.body)["tags"]
        check(page == [f"tag-{i:04d}" for i in range(10, 20)], f"tags/list?n=10&last=…: {page}")
        check(r.header("link") is not None, "tags/list page without a Link header")


def measure_lists(server, ctx, round_):
    base = f"http://127.0.0.1:{server.port}/v2"
    tags_rps, _ = wrk(f"{base}/{TAGS_REPO}/tags/list", ctx.list_connections, ctx.seconds)
    catalog_rps, _ = wrk(f"{base}/_catalog?n={ctx.repos}", ctx.list_connections, ctx.seconds)
    return {f"tags/list, {ctx.tags} tags": tags_rps, f"_catalog, {ctx.repos} repositories": catalog_rps}


# --- a whole image with skopeo ------------------------------------------------------------------

def make_oci_layout(directory, layers, layer_size):
    """An OCI image layout with `layers` gzipped tar layers of `layer_size` random bytes each.
    Compressed as registries hold them: skopeo would gzip an uncompressed layer on push, and the
    client's compression time would swamp the servers'."""
    blobs = os.path.join(directory, "blobs", "sha256")
    os.makedirs(blobs)

    def add_blob(data):
        digest = sha256_digest(data)
        with open(os.path.join(blobs, digest.split(":")[1]), "wb") as f:
            f.write(data)
        return digest

    layer_descriptors, diff_ids = [], []
    for i in range(layers):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            info = tarfile.TarInfo(f"layer-{i}/data")
            info.size = layer_size
            tar.addfile(info, io.BytesIO(os.urandom(layer_size)))
        data = gzip.compress(out.getvalue(), compresslevel=1)
        layer_descriptors.append({"mediaType": OCI_GZIP_LAYER, "digest": add_blob(data), "size": len(data)})
        diff_ids.append(sha256_digest(out.getvalue()))
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": add_blob(config), "size": len(config)},
                           "layers": layer_descriptors}).encode()
    manifest_digest = add_blob(manifest)
    with open(os.path.join(directory, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(directory, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)
    return [d["digest"] for d in layer_descriptors]


def skopeo_image(ctx, round_):
    """A new image per round: skopeo remembers where it pushed a blob and would mount it
    instead of uploading it again, so the same layers pushed twice measure nothing."""
    directory = os.path.join(ctx.work, f"image-{round_}")
    if not os.path.exists(directory):
        ctx.skopeo_layers[round_] = make_oci_layout(directory, ctx.image_layers, ctx.layer_size)
    return directory, ctx.skopeo_layers[round_]


def measure_skopeo(server, ctx, round_):
    layout, layers = skopeo_image(ctx, round_)
    ref = f"docker://127.0.0.1:{server.port}/skopeo/image-{round_}:latest"
    image_size = ctx.image_layers * ctx.layer_size
    ready_for_writes(ctx.work, 2 * image_size)  # the server writes the layers
    start = time.perf_counter()
    subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:latest", ref],
                   check=True, capture_output=True)
    pushed = time.perf_counter()
    out = os.path.join(ctx.work, server.name, f"pulled-{round_}")
    ready_for_writes(ctx.work, 2 * image_size)  # skopeo writes them
    resumed = time.perf_counter()
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", ref, f"dir:{out}"],
                   check=True, capture_output=True)
    pulled = time.perf_counter()
    for digest in layers:  # skopeo checks each digest as it pulls; make sure every layer came
        path = os.path.join(out, digest.split(":")[1])
        check(os.path.exists(path), f"skopeo pulled no layer {digest}")
    subprocess.run(["rm", "-rf", out], check=True)
    return {"skopeo push": pushed - start, "skopeo pull": pulled - resumed}
