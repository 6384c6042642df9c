"""Berth against registry:2, side by side in one run. See bench/README.md."""
import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from types import SimpleNamespace

import collection
import limits
import mirror
import s3
import tokenauth
import workloads
from servers import start_berth, start_registry2
from workloads import CheckFailed

BERTH, REGISTRY2 = "berth", "registry2"

# metric → unit, in the table's order.
METRICS = {}


def metric(name, unit):
    METRICS[name] = unit


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--berth-bin", required=True, help="the berth binary to measure (bench/run builds it)")
    p.add_argument("--work", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "work"))
    p.add_argument("--results", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--blob-mib", type=int, default=256)
    p.add_argument("--chunk-mib", type=int, default=8)
    p.add_argument("--seconds", type=int, default=10, help="duration of each wrk/ab run")
    p.add_argument("--connections", type=int, default=64, help="keep-alive connections for manifests")
    p.add_argument("--list-connections", type=int, default=16)
    p.add_argument("--tags", type=int, default=5000)
    p.add_argument("--repos", type=int, default=2000)
    p.add_argument("--image-layers", type=int, default=10)
    p.add_argument("--layer-mib", type=int, default=16)
    p.add_argument("--memory-streams", type=int, default=64)
    p.add_argument("--gc-repos", type=int, default=2000, help="repositories in the garbage-collect store (11 blobs each)")
    p.add_argument("--sections", default="core,mirror,auth,s3,gc",
                   help="what to run, comma-separated: core (pushes, pulls, manifests, lists, skopeo, memory), "
                        "mirror, auth (manifest GETs with token auth), s3 (S3 storage and the Redis cache), "
                        "gc (garbage-collect on a filesystem store)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes and one round, to check the harness works (targets not judged)")
    args = p.parse_args()
    if args.smoke:
        args.rounds, args.blob_mib, args.chunk_mib, args.seconds = 1, 8, 1, 1
        args.connections, args.list_connections, args.tags, args.repos = 8, 4, 50, 30
        args.image_layers, args.layer_mib, args.memory_streams = 2, 1, 4
        args.gc_repos = 30
    return args


class Results:
    """Every value measured, per side and metric, and the correctness tally."""

    def __init__(self):
        self.values = {}  # (side, metric) → [values]
        self.passed = 0
        self.failed = []

    def add(self, side, measured):
        for name, value in measured.items():
            self.values.setdefault((side, name), []).append(value)

    def run(self, side, what, fn):
        try:
            measured = fn()
        except (CheckFailed, subprocess.CalledProcessError, OSError) as error:
            self.failed.append(f"{side}: {what}: {error}")
            print(f"  FAILED {side} {what}: {error}", flush=True)
            traceback.print_exc()
            return
        self.passed += 1
        self.add(side, measured)
        shown = ", ".join(f"{k} {number(v)}" for k, v in measured.items())
        print(f"  {side:9} {shown}", flush=True)

    def median(self, side, name):
        v = self.values.get((side, name))
        return statistics.median(v) if v else None

    def cell(self, side, name):
        v = self.values.get((side, name))
        if not v:
            return "—"
        if len(v) == 1:
            return number(v[0])
        return f"{number(statistics.median(v))} ({number(min(v))}–{number(max(v))})"


def number(value):
    """Three significant figures at least: 0.53 s, 6.8 ms, 2,305 MB/s."""
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def main():
    args = parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    ctx = SimpleNamespace(
        work=args.work, blob=os.path.join(args.work, "blob"), blob_size=args.blob_mib << 20,
        chunk_size=args.chunk_mib << 20, seconds=args.seconds, connections=args.connections,
        list_connections=args.list_connections, tags=args.tags, repos=args.repos,
        image_layers=args.image_layers, layer_size=args.layer_mib << 20,
        memory_streams=args.memory_streams, skopeo_layers={}, push_blobs={}, gc_repos=args.gc_repos)
    ctx.blob_digest = workloads.random_blob(ctx.blob, ctx.blob_size)
    results = Results()
    declare_metrics(ctx)

    sections = args.sections.split(",")
    if "core" in sections:
        run_core(args, ctx, results)
    if "mirror" in sections:
        run_mirror(args, ctx, results)
    if "auth" in sections:
        run_auth(args, ctx, results)
    if "s3" in sections:
        run_s3(args, ctx, results)
    if "gc" in sections:
        run_rounds(args, ctx, results, "garbage collection, Berth and registry:2, each on a copy of one store",
                   "garbage-collect", collection, lambda: collection.start(args.berth_bin, args.work, ctx))

    table = render(args, ctx, results)
    print(table)
    if not args.smoke:
        os.makedirs(args.results, exist_ok=True)
        suffix = "" if len(sections) > 1 else f"-{sections[0]}"
        path = os.path.join(args.results, f"{datetime.date.today()}-{os.cpu_count()}cpu{suffix}.md")
        with open(path, "w") as f:
            f.write(table)
        print(f"written to {path}")
    for failure in results.failed:
        print(f"FAILED: {failure}")
    print(f"{results.passed} passed, {len(results.failed)} failed")
    return 1 if results.failed else 0


def run_core(args, ctx, results):
    print(f"== idle RSS after start, {args.rounds} starts each", flush=True)
    for round_ in range(args.rounds):
        for side, start in sides(args):
            server = start(os.path.join(args.work, f"idle-{round_}"), ctx.repos)
            time.sleep(1)
            results.run(side, "idle RSS", lambda: {"idle RSS": server.rss_mib()})
            server.stop()

    servers, ctx.nginx = {}, None
    try:
        for side, start in sides(args):
            servers[side] = start(args.work, ctx.repos)
        print("== preparing data (untimed, checked)", flush=True)
        for side, server in servers.items():
            results.run(side, "lists", lambda: workloads.prepare_lists(server, ctx) or {})
            if side == BERTH:
                results.run(side, "tags/list pages", lambda: workloads.check_tag_pages(server, ctx) or {})
            results.run(side, "pull", lambda: workloads.prepare_pull(server, ctx) or {})
            results.run(side, "manifest", lambda: prepare_manifest(server, ctx))
        ctx.nginx = limits.NginxServer(os.path.join(args.work, "nginx"),
                                       [f"/v2/{workloads.MANIFEST_REPO}/manifests/latest"], ctx.manifest,
                                       workloads.OCI_MANIFEST)
        for round_ in range(args.rounds):
            run_round(round_, ctx, servers, results)
    finally:
        for server in [*servers.values(), *filter(None, [ctx.nginx])]:
            server.stop()


def prepare_manifest(server, ctx):
    """Pushes the manifest rows' image; both servers are given the same bytes."""
    ctx.manifest = workloads.prepare_manifest(server, ctx)
    ctx.manifest_digest = workloads.sha256_digest(ctx.manifest)
    return {}


def run_rounds(args, ctx, results, title, label, section, start):
    """A section that sets up once and measures round by round: `section` is its module."""
    print(f"== {title}", flush=True)
    setup = start()
    try:
        for round_ in range(args.rounds):
            print(f"== {label} round {round_ + 1}", flush=True)
            section.measure_round(round_, ctx, setup, results)
    finally:
        section.stop(setup)


def run_mirror(args, ctx, results):
    run_rounds(args, ctx, results, "the pull-through mirror: Berth and registry:2 proxy mode in front of one registry:2",
               "mirror", mirror, lambda: mirror.start(args.berth_bin, args.work))


def run_auth(args, ctx, results):
    print("== token auth: manifest GETs with a cached, valid token, Berth and registry:2", flush=True)
    setup = tokenauth.start(args.berth_bin, args.work)
    try:
        results.run(BERTH, "token auth refuses and grants", lambda: tokenauth.check_guarded(setup) or {})
        for round_ in range(args.rounds):
            print(f"== auth round {round_ + 1}", flush=True)
            tokenauth.measure_round(round_, ctx, setup, results)
    finally:
        tokenauth.stop(setup)


def run_s3(args, ctx, results):
    run_rounds(args, ctx, results, "S3 storage (SeaweedFS) with the Redis cache, Berth and registry:2", "S3", s3,
               lambda: s3.start(args.berth_bin, args.work, ctx))


def sides(args):
    return [(BERTH, lambda work, n: start_berth(args.berth_bin, work, n)),
            (REGISTRY2, lambda work, n: start_registry2(work, n))]


def declare_metrics(ctx):
    for kind in ("push monolithic", "push chunked", "pull, 1 stream", "pull, 16 streams"):
        metric(kind, "MB/s")
        metric(f"{kind}, server CPU", "s/GB")
    for method in ("GET", "HEAD"):
        metric(f"manifest {method} by tag", "req/s")
        metric(f"manifest {method} p99", "ms")
    metric("manifest GET by digest", "req/s")
    metric(f"tags/list, {ctx.tags} tags", "req/s")
    metric(f"_catalog, {ctx.repos} repositories", "req/s")
    metric("skopeo push", "s")
    metric("skopeo pull", "s")
    metric(f"peak RSS, {ctx.memory_streams} pulls", "MiB")
    metric("idle RSS", "MiB")
    mirror.declare(metric, ctx)
    tokenauth.declare(metric)
    s3.declare(metric, ctx)
    collection.declare(metric, ctx)


def run_round(round_, ctx, servers, results):
    print(f"== round {round_ + 1}", flush=True)
    for kind in ("monolithic", "chunked"):  # made before anything is timed
        workloads.push_blob_of_round(ctx, round_, kind)
    results.run("limit", "limits", lambda: {
        "sha256 one core": limits.sha256_one_core_mbps(),
        "disk write": limits.disk_write_mbps(ctx.blob, ctx.work),
    })
    sendfile = limits.SendfileServer(ctx.blob)
    # (what, how each server is measured, how the limit is measured beside them or None). The
    # sendfile limit is taken right before the servers' pulls, so that it meets the machine in
    # the state they meet it in.
    steps = [
        ("push monolithic", lambda s: workloads.measure_push(s, ctx, round_, chunked=False), None),
        ("push chunked", lambda s: workloads.measure_push(s, ctx, round_, chunked=True), None),
        ("pull 1", lambda s: workloads.measure_pull(s, ctx, round_, 1),
         lambda: workloads.measure_sendfile_limit(sendfile, ctx, 1)),
        ("pull 16", lambda s: workloads.measure_pull(s, ctx, round_, 16),
         lambda: workloads.measure_sendfile_limit(sendfile, ctx, 16)),
        ("manifest GET", lambda s: workloads.measure_manifest(s, ctx, round_, "GET"),
         lambda: workloads.measure_nginx_limit(ctx.nginx, ctx, "GET")),
        ("manifest HEAD", lambda s: workloads.measure_manifest(s, ctx, round_, "HEAD"),
         lambda: workloads.measure_nginx_limit(ctx.nginx, ctx, "HEAD")),
        ("manifest GET by digest", lambda s: workloads.measure_manifest(s, ctx, round_, "GET", by_digest=True),
         None),
        ("lists", lambda s: workloads.measure_lists(s, ctx, round_), None),
        ("skopeo", lambda s: workloads.measure_skopeo(s, ctx, round_), None),
        ("memory", lambda s: workloads.measure_pull_memory(s, ctx, round_), None),
    ]
    # Who goes first swaps from round to round (A B, B A, …), so that no side always follows
    # the same workload; the limit stays next to Berth.
    order = list(servers.items())
    if round_ % 2:
        order.reverse()
    try:
        for what, step, limit in steps:
            measurements = [(side, lambda step=step, server=server: step(server)) for side, server in order]
            if limit:
                measurements.insert(0 if round_ % 2 == 0 else len(measurements), ("limit", limit))
            for side, measure in measurements:
                # No workload shares the machine with the writeback of the one before it (a
                # push leaves 256 MiB for the kernel to write out, which took CPU from the pull
                # after it).
                os.sync()
                results.run(side, what, measure)
    finally:
        sendfile.stop()
    for path in list(ctx.push_blobs):
        os.remove(path)
        del ctx.push_blobs[path]


def targets(ctx, r):
    """name → (target text, met?) from the medians."""
    def ratio(name):
        b, o = r.median(BERTH, name), r.median(REGISTRY2, name)
        return b / o if b is not None and o else None

    def share(name, limit):
        b, l = r.median(BERTH, name), r.median("limit", limit)
        return b / l if b is not None and l else None

    def at_least(value, bound):
        return value is not None and value >= bound

    def at_most(value, bound):
        return value is not None and value <= bound

    t = {}
    for push, of_sha256 in (("push monolithic", 0.7), ("push chunked", 0.6)):
        t[push] = (f"≥ 3× and ≥ {of_sha256:.0%} of SHA-256",
                   at_least(ratio(push), 3) and at_least(share(push, "sha256 one core"), of_sha256))
    t["pull, 1 stream"] = ("≥ 95 % of sendfile", at_least(share("pull, 1 stream", "sendfile, 1 stream"), 0.95))
    t["pull, 16 streams"] = ("≥ 95 % of sendfile",
                             at_least(share("pull, 16 streams", "sendfile, 16 streams"), 0.95))
    for method in ("GET", "HEAD"):
        by_tag = f"manifest {method} by tag"
        t[by_tag] = ("≥ 5× and ≥ 50 % of nginx",
                     at_least(ratio(by_tag), 5) and at_least(share(by_tag, f"nginx, manifest {method}"), 0.5))
        t[f"manifest {method} p99"] = ("≤ ⅓×", at_most(ratio(f"manifest {method} p99"), 1 / 3))
    t[f"tags/list, {ctx.tags} tags"] = ("≥ 5×", at_least(ratio(f"tags/list, {ctx.tags} tags"), 5))
    t[f"_catalog, {ctx.repos} repositories"] = ("≥ 5×", at_least(ratio(f"_catalog, {ctx.repos} repositories"), 5))
    t["skopeo push"] = ("≤ 1×", at_most(ratio("skopeo push"), 1))
    t["skopeo pull"] = ("≤ 1×", at_most(ratio("skopeo pull"), 1))
    peak = f"peak RSS, {ctx.memory_streams} pulls"
    t[peak] = ("≤ 64 MiB and ≤ 0.25×", at_most(r.median(BERTH, peak), 64) and at_most(ratio(peak), 0.25))
    t["manifest GET by digest"] = ("≥ 70 % of nginx",
                                   at_least(share("manifest GET by digest", "nginx, manifest GET"), 0.7))
    t["idle RSS"] = ("≤ 25 MiB", at_most(r.median(BERTH, "idle RSS"), 25))
    t["manifest GET, token auth"] = ("≥ 5×", at_least(ratio("manifest GET, token auth"), 5))
    for name, (bound, value) in s3.targets(ctx, ratio).items():
        t[name] = (f"≥ {bound}×", at_least(value, bound))
    for name in METRICS:
        limit = mirror.limit_of(name)
        if name.startswith("mirror cold pull"):
            t[name] = ("≤ 1.15× upstream", at_most(share(name, limit), 1.15))
        elif name.startswith("mirror first byte"):
            t[name] = ("≤ 1.5× upstream", at_most(share(name, limit), 1.5))
        elif name.startswith("mirror warm pull"):
            t[name] = ("≥ 95 % of local", at_least(share(name, limit), 0.95))
        elif name.startswith("upstream blob GETs"):
            t[name] = (f"= {mirror.COLD_BLOBS}", r.median(BERTH, name) == mirror.COLD_BLOBS)
    return t, ratio, share


LIMIT_OF = {
    "push monolithic": ("sha256 one core", "disk write"),
    "push chunked": ("sha256 one core", "disk write"),
    "pull, 1 stream": ("sendfile, 1 stream",),
    "pull, 16 streams": ("sendfile, 16 streams",),
    "manifest GET by tag": ("nginx, manifest GET",),
    "manifest HEAD by tag": ("nginx, manifest HEAD",),
    "manifest GET by digest": ("nginx, manifest GET",),
}


def render(args, ctx, r):
    t, ratio, share = targets(ctx, r)
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    berth_version = subprocess.run([args.berth_bin, "--version"], capture_output=True, text=True).stdout.strip()
    r2_version = subprocess.run(["docker-registry", "--version"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"# Berth vs registry:2 — {datetime.datetime.now():%Y-%m-%d %H:%M}" + (" (smoke)" if args.smoke else ""),
        "",
        f"Machine: {os.cpu_count()} CPUs, {mem_gib:.1f} GiB memory, {platform.platform()}.  ",
        f"Berth: {berth_version} ({args.berth_bin}). registry:2: {r2_version}.  ",
        f"{args.rounds} rounds, A B then B A alternating; median (min–max). Blob {args.blob_mib} MiB, PATCH chunks "
        f"{args.chunk_mib} MiB, manifest load {args.connections} keep-alive connections × {args.seconds} s, "
        f"lists {args.list_connections} connections, skopeo image {args.image_layers} × {args.layer_mib} MiB layers.",
        "",
        "| workload | unit | Berth | registry:2 | Berth / registry:2 | Berth / limit | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, unit in METRICS.items():
        if (BERTH, name) not in r.values and (REGISTRY2, name) not in r.values:
            continue  # a section not run
        q = ratio(name)
        limits_of = LIMIT_OF.get(name, ()) + tuple(filter(None, [mirror.limit_of(name)]))
        shares = [f"{share(name, limit):.0%} of {limit}" for limit in limits_of if share(name, limit) is not None]
        target, met = t.get(name, ("", None))  # CPU per GB is shown to explain, not judged
        verdict = "" if met is None else "not judged" if args.smoke else ("yes" if met else "**no**")
        lines.append(f"| {name} | {unit} | {r.cell(BERTH, name)} | {r.cell(REGISTRY2, name)} | "
                     f"{f'{q:.2f}×' if q is not None else '—'} | {'; '.join(shares) or ''} | {target} | {verdict} |")
    lines += ["", "Limits measured in the same run (the benchmark's own client on loopback):", "",
              "| limit | unit | value |", "|---|---|---|"]
    limits = [(name, "MB/s") for name in ("sha256 one core", "disk write", "sendfile, 1 stream", "sendfile, 16 streams")]
    limits += [(f"nginx, manifest {method}", "req/s") for method in ("GET", "HEAD")]
    for name, unit in limits + list(mirror.LIMIT_UNITS.items()):
        if ("limit", name) in r.values:
            lines.append(f"| {name} | {unit} | {r.cell('limit', name)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
