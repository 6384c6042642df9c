"""`http.debug.prometheus` on the debug listener: requests by route, method and status with
latency histograms, bytes in and out, uploads in progress, storage operations by driver and
operation, descriptor cache hits, the mirror's counters per upstream, and auth decisions."""
import re
import subprocess

import requests

from conftest import OCI_MANIFEST, digest, image, push_blob, put_manifest
from peers import free_port, wait_for
from test_mirror import mirror_config, upstream  # noqa: F401 (a fixture)


def scrape(url):
    r = requests.get(f"{url}/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    values = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            values[series] = float(value)
    return values


def value(values, name, **labels):
    """The sum over every series of `name` whose labels include `labels`."""
    total = 0.0
    for series, v in values.items():
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})?", series)
        if m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == str(v2) for k, v2 in labels.items()):
            total += v
    return total


def debug_config(port, **extra):
    return {"http": {"debug": {"addr": f"127.0.0.1:{port}", "prometheus": {"enabled": True}}}, **extra}


def test_metrics_count_requests_storage_cache_mirror_and_uploads(start_berth, upstream):  # noqa: F811
    port = free_port()
    b = start_berth({**debug_config(port), **mirror_config(upstream)})
    metrics = f"http://127.0.0.1:{port}"
    layer = b"a layer for the metrics" * 1000
    manifest = image(b.url, "team/app", layers=(layer,))
    assert put_manifest(b.url, "team/app", "v1", manifest).status_code == 201
    for _ in range(3):
        assert requests.get(f"{b.url}/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 200
        assert requests.get(f"{b.url}/v2/team/app/blobs/{digest(layer)}").content == layer
    assert requests.get(f"{b.url}/v2/team/app/manifests/nope").status_code == 404
    # Through the mirror: a miss, then a hit.
    for _ in range(2):
        r = requests.get(f"{b.url}/v2/up.test/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200

    # A request is recorded once its response is sent, which the client may see first.
    wait_for(lambda: value(scrape(metrics), "berth_http_request_duration_seconds_count", route="blob",
                           method="GET") == 3, timeout=10, what="the last download to be recorded")
    m = scrape(metrics)
    assert value(m, "berth_http_requests_total", route="manifest", method="GET", status="200") >= 5
    assert value(m, "berth_http_requests_total", route="manifest", method="GET", status="404") == 1
    assert value(m, "berth_http_requests_total", route="blob_upload", method="PUT", status="201") == 2
    assert value(m, "berth_http_request_duration_seconds_count", route="blob", method="GET") == 3
    assert value(m, "berth_http_request_duration_seconds_bucket", route="blob", method="GET", le="+Inf") == 3
    assert value(m, "berth_http_response_bytes_total", route="blob", method="GET") == 3 * len(layer)
    assert value(m, "berth_http_request_bytes_total", route="blob_upload", method="PUT") >= len(layer)
    assert value(m, "berth_uploads_in_progress") == 0
    assert value(m, "berth_storage_operation_duration_seconds_count", driver="filesystem", operation="putContent") > 0
    assert value(m, "berth_storage_operation_duration_seconds_count", driver="filesystem", operation="stat") > 0
    assert value(m, "berth_cache_lookups_total", cache="inmemory", lookup="link", result="hit") > 0
    assert value(m, "berth_mirror_lookups_total", upstream="up", result="miss") >= 1
    assert value(m, "berth_mirror_lookups_total", upstream="up", result="hit") >= 1
    assert value(m, "berth_mirror_upstream_requests_total", upstream="up", answer="200") >= 1
    assert value(m, "berth_auth_decisions_total", result="granted") >= 10
    # Scraped again, the mirror's counters are carried over once, not added again.
    again = scrape(metrics)
    assert value(again, "berth_mirror_lookups_total", upstream="up", result="miss") == \
        value(m, "berth_mirror_lookups_total", upstream="up", result="miss")


def test_auth_decisions_and_metrics_off_by_default(start_berth, tmp_path):
    line = subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], capture_output=True, text=True, check=True)
    (tmp_path / "htpasswd").write_text(line.stdout)
    port = free_port()
    b = start_berth({**debug_config(port), "auth": {"htpasswd": {"realm": "r", "path": str(tmp_path / "htpasswd")}}})
    assert requests.get(f"{b.url}/v2/").status_code == 401
    assert requests.get(f"{b.url}/v2/", auth=("alice", "wrong")).status_code == 401
    assert requests.get(f"{b.url}/v2/", auth=("alice", "s3cret")).status_code == 200
    wait_for(lambda: value(scrape(f"http://127.0.0.1:{port}"), "berth_auth_decisions_total") == 3, timeout=10,
             what="the decisions to be counted")
    m = scrape(f"http://127.0.0.1:{port}")
    assert value(m, "berth_auth_decisions_total", result="challenged") == 2
    assert value(m, "berth_auth_decisions_total", result="granted") == 1
    # Without http.debug.prometheus.enabled the debug listener serves no metrics.
    other = free_port()
    quiet = start_berth({"http": {"debug": {"addr": f"127.0.0.1:{other}"}}})
    assert requests.get(f"{quiet.url}/v2/").status_code == 200
    assert requests.get(f"http://127.0.0.1:{other}/metrics").status_code == 404
