"""Berth and registry:2 on S3 (one SeaweedFS on loopback) with their Redis caches (one
redis-server, a database each): the same config for both (redirects off, so that blob bytes go
through the registry), each under its own root directory in one bucket. A third server, Berth
with the local blob cache (`storage.cache.localblobs`), shares Berth's root and Redis database, as a
replica would."""
import os
import subprocess
from types import SimpleNamespace

from limits import ready_for_writes
from peers import free_port, port_open, wait_for
from seaweed import ACCESS_KEY, REGION, SECRET_KEY, SeaweedFS
from servers import Server
from workloads import (MANIFEST_REPO, manifest_rate, parallel_pulls, prepare_manifest, push_blob,
                       push_blob_of_round, random_blob, verify_pull)

BUCKET = "bench"
PULL_REPO = "s3/pull"

CONFIG = """version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  s3:
    bucket: {bucket}
    region: {region}
    regionendpoint: {endpoint}
    forcepathstyle: true
    secure: false
    accesskey: {access}
    secretkey: {secret}
    rootdirectory: /{root}
  redirect:
    disable: true
  delete:
    enabled: true
  cache:
    blobdescriptor: redis
{local_blobs}  maintenance:
    uploadpurging:
      enabled: false
redis:
  addr: 127.0.0.1:{redis_port}
  db: {db}
http:
  addr: 127.0.0.1:{port}
"""


def declare(metric, ctx):
    size = f"{ctx.blob_size >> 20} MiB"
    metric(f"S3 push monolithic, {size}", "MB/s")
    metric(f"S3 push chunked, {size}", "MB/s")
    metric("S3 pull, 1 stream, redirects off", "MB/s")
    metric("S3 pull, 1 stream, local blob cache warm", "MB/s")
    metric("S3 manifest GET by tag, Redis cache", "req/s")


def targets(ctx, ratio):
    size = f"{ctx.blob_size >> 20} MiB"
    return {
        f"S3 push monolithic, {size}": (1.5, ratio(f"S3 push monolithic, {size}")),
        f"S3 push chunked, {size}": (1.5, ratio(f"S3 push chunked, {size}")),
        "S3 pull, 1 stream, redirects off": (1, ratio("S3 pull, 1 stream, redirects off")),
        # registry:2 has no local cache: its row is the same pull as above, measured again.
        "S3 pull, 1 stream, local blob cache warm": (3, ratio("S3 pull, 1 stream, local blob cache warm")),
        "S3 manifest GET by tag, Redis cache": (2, ratio("S3 manifest GET by tag, Redis cache")),
    }


class Redis:
    def __init__(self, work):
        self.port = free_port()
        self.log = open(os.path.join(work, "redis.log"), "a")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=self.log, stderr=self.log)
        wait_for(lambda: port_open(self.port), what="redis")

    def stop(self):
        self.process.terminate()
        self.process.wait()


def server(name, command, work, seaweed, redis, root, db, local_blobs=None):
    def config(port, data):
        cache = ""
        if local_blobs:
            cache = f"    localblobs:\n      directory: {local_blobs}\n      maxsize: 4294967296\n"
        return CONFIG.format(bucket=BUCKET, region=REGION, endpoint=seaweed.endpoint, access=ACCESS_KEY,
                             secret=SECRET_KEY, root=root, local_blobs=cache, redis_port=redis.port, db=db,
                             port=port)
    # The AWS SDK in registry:2 panics on AWS_CA_BUNDLE (set on some machines) with its own
    # transport; neither server needs the AWS_* variables, given the keys in the file.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REGISTRY_"))}
    return Server(name, command, work, 1000, config=config, env=env)


def start(binary, work, ctx):
    work = os.path.join(work, "s3")
    os.makedirs(work, exist_ok=True)
    setup = SimpleNamespace(servers=[], seaweed=None, redis=None)
    try:
        setup.seaweed = SeaweedFS(os.path.join(work, "seaweed")).start()
        setup.seaweed.make_bucket(BUCKET)
        setup.redis = Redis(work)
        setup.berth = server("berth", [binary, "serve"], work, setup.seaweed, setup.redis, "berth", 0)
        setup.registry2 = server("registry2", ["docker-registry", "serve"], work, setup.seaweed, setup.redis,
                                 "registry2", 1)
        setup.cached = server("berth-localblobs", [binary, "serve"], work, setup.seaweed, setup.redis, "berth", 0,
                              local_blobs=os.path.join(work, "localblobs"))
        setup.servers = [setup.berth, setup.registry2, setup.cached]
        setup.blob = os.path.join(work, "pull-blob")
        setup.blob_digest = random_blob(setup.blob, ctx.blob_size)
        for side in (setup.berth, setup.registry2):
            push_blob(side.port, PULL_REPO, setup.blob, setup.blob_digest)
            prepare_manifest(side, ctx)
        path = f"/v2/{PULL_REPO}/blobs/{setup.blob_digest}"
        for side in setup.servers:  # the cache of `cached` fills here, and each pull is checked
            verify_pull(side.port, path, setup.blob_digest)
    except BaseException:
        stop(setup)
        raise
    return setup


def stop(setup):
    for s in setup.servers:
        s.stop()
    if setup.redis:
        setup.redis.stop()
    if setup.seaweed:
        setup.seaweed.stop()


def measure_round(round_, ctx, setup, results):
    size = f"{ctx.blob_size >> 20} MiB"
    pairs = [("berth", setup.berth), ("registry2", setup.registry2)]
    if round_ % 2:
        pairs.reverse()
    path = f"/v2/{PULL_REPO}/blobs/{setup.blob_digest}"

    def run(side, what, fn):
        os.sync()
        results.run(side, what, fn)

    for kind in ("monolithic", "chunked"):
        blob, digest = push_blob_of_round(ctx, round_, f"s3-{kind}")
        name = f"S3 push {kind}, {size}"
        for side, s in pairs:
            def push(s=s, blob=blob, digest=digest, kind=kind):
                ready_for_writes(ctx.work, 2 * ctx.blob_size)
                seconds = push_blob(s.port, f"s3/{kind}-{round_}", blob, digest,
                                    chunk=ctx.chunk_size if kind == "chunked" else None)
                return {name: ctx.blob_size / seconds / 1e6}
            run(side, name, push)
    for side, s in pairs:
        run(side, "S3 pull", lambda s=s: {
            "S3 pull, 1 stream, redirects off": parallel_pulls(s.port, path, ctx.blob_size, 1)})
    # Berth's side of this row is the replica with the local blob cache; registry:2 has none.
    cached_pairs = [(side, setup.cached if side == "berth" else s) for side, s in pairs]
    for side, s in cached_pairs:
        run(side, "S3 pull, local cache", lambda s=s: {
            "S3 pull, 1 stream, local blob cache warm": parallel_pulls(s.port, path, ctx.blob_size, 1)})
    for side, s in pairs:
        url = f"http://127.0.0.1:{s.port}/v2/{MANIFEST_REPO}/manifests/latest"
        run(side, "S3 manifest GET", lambda url=url: {
            "S3 manifest GET by tag, Redis cache": manifest_rate(url, ctx, "GET")[0]})
    for kind in ("monolithic", "chunked"):
        blob, _ = push_blob_of_round(ctx, round_, f"s3-{kind}")
        os.remove(blob)
        del ctx.push_blobs[blob]
