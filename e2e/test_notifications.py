"""registry:2's `notifications.endpoints`, against listeners this test runs: the envelope and
events registry:2 2.8.2 sends (seen on the wire here: one event per POST, `push` for each blob
and the manifest, `pull` for manifest GET and HEAD and blob GET, `mount` with
`fromRepository`, `delete` by digest then per tag), in order per repository, the endpoint's
headers and filters, retries after the listener fails, a full queue dropping and counting, and
a listener that never answers changing no response time of the registry."""
import http.server
import json
import socket
import statistics
import threading
import time
import uuid

import requests

from conftest import OCI_MANIFEST, digest, image, put_manifest
from peers import free_port, wait_for


class Listener:
    """An HTTP endpoint that records each POST; the first `fail` answer 500."""

    def __init__(self, fail=0):
        self.posts = []
        self.fail = fail
        self.tries = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                listener.tries.append(time.monotonic())
                if listener.fail > 0:
                    listener.fail -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                listener.posts.append({"headers": dict(self.headers), "body": json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self):
        return [e for p in self.posts for e in p["body"]["events"]]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def endpoint(name, url, **extra):
    return {"name": name, "url": url, "timeout": "1s", "threshold": 3, "backoff": "300ms", **extra}


def test_events_arrive_as_registry2_sends_them_in_order(start_berth):
    every, filtered = Listener(), Listener()
    try:
        b = start_berth({"notifications": {"endpoints": [
            endpoint("all", every.url, headers={"Authorization": ["Bearer secret-token"]}),
            endpoint("manifests", filtered.url, ignoredmediatypes=["application/octet-stream"],
                     ignore={"actions": ["pull"]}),
            endpoint("off", "http://127.0.0.1:1/never", disabled=True)]}})
        layer = b"a layer for the listener"
        manifest = image(b.url, "team/app", layers=(layer,))
        assert put_manifest(b.url, "team/app", "v1", manifest).status_code == 201
        accept = {"Accept": OCI_MANIFEST, "User-Agent": "notify-test/1"}
        assert requests.get(f"{b.url}/v2/team/app/manifests/v1", headers=accept).status_code == 200
        assert requests.head(f"{b.url}/v2/team/app/manifests/v1", headers=accept).status_code == 200
        assert requests.get(f"{b.url}/v2/team/app/blobs/{digest(layer)}").status_code == 200
        assert requests.head(f"{b.url}/v2/team/app/blobs/{digest(layer)}").status_code == 200  # no event
        r = requests.post(f"{b.url}/v2/team/other/blobs/uploads/?mount={digest(layer)}&from=team/app")
        assert r.status_code == 201
        assert requests.delete(f"{b.url}/v2/team/app/manifests/{digest(manifest)}").status_code == 202

        wait_for(lambda: len(every.events()) == 9, timeout=15, what="nine events")
        events = every.events()
        summary = [(e["action"], e["target"].get("mediaType"), e["target"].get("tag")) for e in events]
        config_type, blob_type = "application/octet-stream", "application/octet-stream"
        assert summary == [
            ("push", config_type, None), ("push", blob_type, None), ("push", OCI_MANIFEST, "v1"),
            ("pull", OCI_MANIFEST, "v1"), ("pull", OCI_MANIFEST, "v1"), ("pull", blob_type, None),
            ("mount", blob_type, None), ("delete", None, None), ("delete", None, "v1")], summary
        post = every.posts[0]
        assert post["headers"]["Content-Type"] == "application/vnd.docker.distribution.events.v1+json"
        assert post["headers"]["Authorization"] == "Bearer secret-token"
        assert all(len(p["body"]["events"]) == 1 for p in every.posts)
        pushed = events[2]
        uuid.UUID(pushed["id"])
        assert pushed["timestamp"].endswith("Z") and "T" in pushed["timestamp"]
        assert pushed["target"] == {
            "mediaType": OCI_MANIFEST, "size": len(manifest), "length": len(manifest), "digest": digest(manifest),
            "repository": "team/app", "tag": "v1",
            "url": f"{b.url}/v2/team/app/manifests/{digest(manifest)}"}
        assert pushed["request"]["method"] == "PUT" and pushed["request"]["addr"].startswith("127.0.0.1")
        assert pushed["request"]["host"] == f"127.0.0.1:{b.port}" and pushed["request"]["id"]
        assert events[3]["request"]["useragent"] == "notify-test/1"
        assert pushed["source"]["addr"].endswith(f":{b.port}") and uuid.UUID(pushed["source"]["instanceID"])
        assert pushed["actor"] == {}
        assert events[6]["target"]["repository"] == "team/other" and events[6]["target"]["fromRepository"] == "team/app"
        assert events[7]["target"] == {"digest": digest(manifest), "repository": "team/app"}
        assert events[8]["target"] == {"repository": "team/app", "tag": "v1"}
        # The filtered endpoint: no pulls, no blobs.
        wait_for(lambda: len(filtered.events()) == 3, timeout=15, what="the filtered endpoint's events")
        assert [(e["action"], e["target"].get("tag")) for e in filtered.events()] == [
            ("push", "v1"), ("delete", None), ("delete", "v1")]
    finally:
        every.stop()
        filtered.stop()


def test_failed_deliveries_are_tried_again_in_order(start_berth):
    flaky = Listener(fail=5)
    try:
        b = start_berth({"notifications": {"endpoints": [endpoint("flaky", flaky.url)]}})
        for tag in ("a", "b", "c"):
            assert put_manifest(b.url, "team/app", tag, image(b.url, "team/app", layers=(tag.encode(),))).status_code == 201
        wait_for(lambda: len([e for e in flaky.events() if e["target"].get("tag")]) == 3, timeout=20,
                 what="the manifest pushes after the failures")
        assert [e["target"]["tag"] for e in flaky.events() if e["target"].get("tag")] == ["a", "b", "c"]
        # The first event was tried 6 times; past the threshold (3 failures), `backoff` apart.
        gaps = [b2 - a for a, b2 in zip(flaky.tries, flaky.tries[1:6])]
        assert all(g >= 0.25 for g in gaps[2:5]), gaps
        assert "notification failed; trying again" in b.logs()
    finally:
        flaky.stop()


def test_a_dead_endpoint_slows_nothing_and_its_full_queue_drops(start_berth):
    # Accepts connections and never answers: the worst an endpoint can do.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(100)
    url = f"http://127.0.0.1:{hole.getsockname()[1]}/events"
    try:
        metrics_port = free_port()
        quiet = start_berth()
        b = start_berth({"notifications": {"endpoints": [endpoint("dead", url, timeout="5s", queuesize=4)]},
                         "http": {"debug": {"addr": f"127.0.0.1:{metrics_port}", "prometheus": {"enabled": True}}}})
        for server in (quiet, b):
            assert put_manifest(server.url, "team/app", "v1", image(server.url, "team/app")).status_code == 201

        def timings(server):
            times = []
            with requests.Session() as s:
                for _ in range(40):
                    started = time.monotonic()
                    r = s.get(f"{server.url}/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
                    assert r.status_code == 200
                    times.append(time.monotonic() - started)
            return times

        base, dead = timings(quiet), timings(b)
        # Every pull made an event; the endpoint takes none, so all but a few are dropped.
        assert max(dead) < 1.0, max(dead)
        assert statistics.median(dead) < 3 * statistics.median(base) + 0.005, (statistics.median(dead),
                                                                                statistics.median(base))
        assert "notification dropped: the endpoint's queue is full" in b.logs()
        scraped = requests.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        dropped = [line for line in scraped.splitlines() if line.startswith('berth_notifications_dropped_total{endpoint="dead"}')]
        assert dropped and float(dropped[0].split()[-1]) >= 30, dropped
    finally:
        hole.close()
