"""Server behaviour: shutdown, TLS, read-only mode, URLs, concurrency, logs, health."""
import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import BERTH, absolute, digest, image, oci_error, push_blob, put_manifest


def upload_in_flight(berth, data):
    """A monolithic upload of `data` whose first 1,000 bytes are sent; the socket, to finish it."""
    loc = requests.post(f"{berth.url}/v2/team/app/blobs/uploads/").headers["Location"]
    path = loc.split(str(berth.port), 1)[1]
    sep = "&" if "?" in path else "?"
    s = socket.create_connection(("127.0.0.1", berth.port), timeout=10)
    s.sendall(f"PUT {path}{sep}digest={digest(data)} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n"
              .encode() + data[:1000])
    time.sleep(0.3)
    return s


def test_graceful_shutdown_finishes_in_flight_upload(berth):
    data = os.urandom(300_000)
    s = upload_in_flight(berth, data)
    berth.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    # A new connection is refused while the old one finishes.
    try:
        socket.create_connection(("127.0.0.1", berth.port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    s.sendall(data[1000:])
    out = s.recv(4096)
    assert out.startswith(b"HTTP/1.1 201"), out
    assert berth.proc.wait(15) == 0
    assert refused
    berth.start(port=berth.port)
    assert requests.get(f"{berth.url}/v2/team/app/blobs/{digest(data)}").content == data


def test_idle_keep_alive_connection_does_not_block_shutdown(berth):
    s = socket.create_connection(("127.0.0.1", berth.port), timeout=10)
    s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    started = time.time()
    berth.proc.send_signal(signal.SIGTERM)
    assert berth.proc.wait(10) == 0
    assert time.time() - started < 5
    s.close()


def test_tls(start_berth, tmp_path):
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    b = start_berth({"http": {"tls": {"certificate": cert, "key": key}}})
    assert b.url.startswith("https://")
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = requests.post(f"{b.url}/v2/team/app/blobs/uploads/", params={"digest": digest(data)}, data=data, verify=cert)
    assert r.status_code == 201
    assert r.headers["Location"].startswith("https://")
    r = requests.get(f"{b.url}/v2/team/app/blobs/{digest(data)}", verify=cert)
    assert r.content == data  # streamed through TLS, not sendfile
    r = requests.get(f"{b.url}/v2/team/app/blobs/{digest(data)}", headers={"Range": "bytes=100-199"}, verify=cert)
    assert r.content == data[100:200]


def test_read_only_mode(start_berth):
    b = start_berth()
    body = image(b.url, "team/app")
    put_manifest(b.url, "team/app", "v1", body)
    b.stop()
    b.config["storage"]["maintenance"] = {"readonly": {"enabled": True}}
    b.start()
    assert requests.get(f"{b.url}/v2/team/app/manifests/v1").content == body
    oci_error(requests.post(f"{b.url}/v2/team/app/blobs/uploads/"), "UNSUPPORTED", 405)
    oci_error(put_manifest(b.url, "team/app", "v2", body), "UNSUPPORTED", 405)
    oci_error(requests.delete(f"{b.url}/v2/team/app/manifests/v1"), "UNSUPPORTED", 405)


def test_locations_follow_forwarded_headers_and_config(start_berth):
    b = start_berth()
    r = requests.post(f"{b.url}/v2/team/app/blobs/uploads/",
                      headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"})
    assert r.headers["Location"].startswith("https://registry.example.com/v2/team/app/blobs/uploads/")
    rel = start_berth({"http": {"relativeurls": True}})
    r = requests.post(f"{rel.url}/v2/team/app/blobs/uploads/")
    assert r.headers["Location"].startswith("/v2/team/app/blobs/uploads/")
    host = start_berth({"http": {"host": "https://mirror.example.org"}})
    r = requests.post(f"{host.url}/v2/team/app/blobs/uploads/")
    assert r.headers["Location"].startswith("https://mirror.example.org/v2/team/app/blobs/uploads/")


def test_prefix(start_berth):
    b = start_berth({"http": {"prefix": "/registry/"}})
    assert requests.get(f"{b.url}/registry/v2/").status_code == 200
    assert requests.get(f"{b.url}/v2/").status_code == 404
    data = b"under a prefix"
    r = requests.post(f"{b.url}/registry/v2/team/app/blobs/uploads/")
    assert "/registry/v2/team/app/blobs/uploads/" in r.headers["Location"]
    r = requests.put(absolute(b.url, r.headers["Location"]), params={"digest": digest(data)}, data=data)
    assert r.status_code == 201
    assert requests.get(f"{b.url}/registry/v2/team/app/blobs/{digest(data)}").content == data


def test_configured_headers_on_every_response(start_berth):
    b = start_berth({"http": {"headers": {"X-Content-Type-Options": ["nosniff"]}}})
    assert requests.get(f"{b.url}/v2/").headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(f"{b.url}/v2/x/tags/list").headers["X-Content-Type-Options"] == "nosniff"


def test_concurrent_pushes_of_same_blob_and_tag(berth):
    data = os.urandom(2 * 1024 * 1024)

    def push(_):
        return push_blob(berth.url, "team/app", data)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(push, range(16))) == {digest(data)}
    assert requests.get(f"{berth.url}/v2/team/app/blobs/{digest(data)}").content == data
    bodies = [image(berth.url, "team/app", layers=(bytes([i]) * 10,)) for i in range(8)]

    def tag(body):
        return put_manifest(berth.url, "team/app", "race", body).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(tag, bodies)) == {201}
    assert requests.get(f"{berth.url}/v2/team/app/manifests/race").content in bodies
    uploads = os.path.join(berth.data, "docker/registry/v2/repositories/team/app/_uploads")
    assert not os.path.exists(uploads) or os.listdir(uploads) == []


def test_concurrent_pulls_during_push(berth):
    data = os.urandom(8 * 1024 * 1024)
    d = push_blob(berth.url, "team/app", data)
    errors = []

    def pull():
        got = requests.get(f"{berth.url}/v2/team/app/blobs/{d}").content
        if got != data:
            errors.append(len(got))

    threads = [threading.Thread(target=pull) for _ in range(16)]
    for t in threads:
        t.start()
    push_blob(berth.url, "team/other", os.urandom(1024 * 1024))
    for t in threads:
        t.join()
    assert errors == []


def test_access_log_json(start_berth):
    b = start_berth({"log": {"formatter": "json", "fields": {"service": "registry"}}})
    requests.get(f"{b.url}/v2/team/app/tags/list")
    time.sleep(0.2)
    lines = [json.loads(line) for line in b.logs().splitlines() if line.startswith("{")]
    access = [l for l in lines if l.get("path") == "/v2/team/app/tags/list"]
    assert access, b.logs()
    entry = access[0]
    assert entry["method"] == "GET" and entry["status"] == "404" and entry["service"] == "registry"
    assert "duration_ms" in entry and "remote" in entry and "request_id" in entry


def test_access_log_disabled(start_berth):
    b = start_berth({"log": {"accesslog": {"disabled": True}}})
    requests.get(f"{b.url}/v2/")
    time.sleep(0.2)
    assert "GET /v2/" not in b.logs()


def test_health(berth):
    r = requests.get(f"{berth.url}/debug/health")
    assert r.status_code == 200


def test_containerd_ns_parameter_is_ignored(berth):
    body = image(berth.url, "library/alpine")
    put_manifest(berth.url, "library/alpine", "3", body)
    r = requests.head(f"{berth.url}/v2/library/alpine/manifests/3?ns=docker.io")
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == digest(body)


class PatternBody:
    """A large request body generated on the fly (never held in memory), with a known length."""

    def __init__(self, size, chunk=1 << 20):
        self.size, self.chunk, self.sent = size, chunk, 0
        self.hash = __import__("hashlib").sha256()
        self.block = bytes(range(256)) * (chunk // 256)

    def __len__(self):
        return self.size - self.sent

    def read(self, n=-1):
        if self.sent >= self.size:
            return b""
        n = min(self.chunk if n is None or n < 0 else min(n, self.chunk), self.size - self.sent)
        data = self.block[:n] if (self.sent // self.chunk) % 2 == 0 else self.block[::-1][:n]
        self.sent += n
        self.hash.update(data)
        return data


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_gigabyte_push_and_pull_in_bounded_memory(berth):
    size = 1 << 30
    # Streamed (chunked) PATCH, then a monolithic PUT with Content-Length: neither is buffered.
    body = PatternBody(size)
    loc = requests.post(f"{berth.url}/v2/team/big/blobs/uploads/").headers["Location"]
    r = requests.patch(absolute(berth.url, loc), data=iter(lambda: body.read(1 << 20), b""))
    assert r.status_code == 202 and r.headers["Range"] == f"0-{size - 1}"
    d = "sha256:" + body.hash.hexdigest()
    assert requests.put(absolute(berth.url, r.headers["Location"]), params={"digest": d}).status_code == 201
    body2 = PatternBody(size)
    loc = requests.post(f"{berth.url}/v2/team/big2/blobs/uploads/").headers["Location"]
    r = requests.put(absolute(berth.url, loc), params={"digest": d}, data=body2)
    assert r.status_code == 201, r.text

    errors = []

    def pull():
        h = __import__("hashlib").sha256()
        with requests.get(f"{berth.url}/v2/team/big/blobs/{d}", stream=True) as resp:
            for chunk in resp.iter_content(1 << 20):
                h.update(chunk)
        if "sha256:" + h.hexdigest() != d:
            errors.append("digest mismatch")

    threads = [threading.Thread(target=pull) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    peak = peak_rss_mib(berth.proc.pid)
    print(f"peak RSS {peak:.0f} MiB")
    assert peak < 200, f"berth peaked at {peak:.0f} MiB while moving 6 GiB"


def test_upload_purging(start_berth):
    purge = {"enabled": True, "age": "2s", "interval": "1s"}
    b = start_berth({"storage": {"maintenance": {"uploadpurging": purge}}})
    old = absolute(b.url, requests.post(f"{b.url}/v2/team/app/blobs/uploads/").headers["Location"])
    requests.patch(old, data=b"abandoned")
    time.sleep(4)
    fresh = absolute(b.url, requests.post(f"{b.url}/v2/team/app/blobs/uploads/").headers["Location"])
    oci_error(requests.get(old), "BLOB_UPLOAD_UNKNOWN", 404)
    assert requests.get(fresh).status_code == 204
    assert "purged 1 upload(s)" in b.logs()


def test_upload_purging_dry_run_and_disabled(start_berth):
    dry = start_berth({"storage": {"maintenance": {"uploadpurging": {"enabled": True, "age": "1s", "interval": "1s",
                                                                     "dryrun": True}}}})
    off = start_berth({"storage": {"maintenance": {"uploadpurging": {"enabled": False, "age": "1s",
                                                                     "interval": "1s"}}}})
    kept = [absolute(b.url, requests.post(f"{b.url}/v2/team/app/blobs/uploads/").headers["Location"])
            for b in (dry, off)]
    time.sleep(3.5)
    assert [requests.get(u).status_code for u in kept] == [204, 204]
    assert "would purge" in dry.logs()


def test_tls_client_certificates(start_berth, tmp_path):
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=berth test ca")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.pem", "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=ci")
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "client.pem", "-days", "1")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "1",
        "-subj", "/CN=rogue")
    t = str(tmp_path)
    b = start_berth({"http": {"tls": {"certificate": f"{t}/server.pem", "key": f"{t}/server.key",
                                      "clientcas": [f"{t}/ca.pem"]}}})
    ok = requests.get(f"{b.url}/v2/", verify=f"{t}/server.pem", cert=(f"{t}/client.pem", f"{t}/client.key"))
    assert ok.status_code == 200
    for cert in (None, (f"{t}/rogue.pem", f"{t}/rogue.key")):
        try:
            r = requests.get(f"{b.url}/v2/", verify=f"{t}/server.pem", cert=cert)
            refused = False, r.status_code
        except requests.exceptions.RequestException:
            refused = True
        assert refused is True


def test_no_descriptor_leak_under_mixed_load(berth):
    """A bounded burst of concurrent pushes, pulls, ranges, deletes, failed uploads and abandoned
    connections; afterwards the server holds no more open files than before."""
    def open_fds():
        return len(os.listdir(f"/proc/{berth.proc.pid}/fd"))

    requests.get(f"{berth.url}/v2/")
    baseline = open_fds()

    def worker(i):
        s = requests.Session()
        data = os.urandom(300_000 + i)
        d = push_blob(berth.url, f"load/r{i % 4}", data)
        for _ in range(5):
            assert s.get(f"{berth.url}/v2/load/r{i % 4}/blobs/{d}").content == data
            assert s.get(f"{berth.url}/v2/load/r{i % 4}/blobs/{d}", headers={"Range": "bytes=5-9"}).content == data[5:10]
        bad = s.post(f"{berth.url}/v2/load/r{i % 4}/blobs/uploads/").headers["Location"]
        assert s.put(absolute(berth.url, bad), params={"digest": digest(b"other")}, data=data).status_code == 400
        sock = socket.create_connection(("127.0.0.1", berth.port))
        sock.sendall(f"GET /v2/load/r{i % 4}/blobs/{d} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sock.recv(100)
        sock.close()  # hang up mid-response
        assert s.delete(f"{berth.url}/v2/load/r{i % 4}/blobs/{d}").status_code in (202, 404)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(worker, range(48)))
    deadline = time.time() + 10
    while open_fds() > baseline + 2 and time.time() < deadline:
        time.sleep(0.2)
    assert open_fds() <= baseline + 2, sorted(os.readlink(f"/proc/{berth.proc.pid}/fd/{f}")
                                              for f in os.listdir(f"/proc/{berth.proc.pid}/fd"))
    assert requests.get(f"{berth.url}/v2/").status_code == 200


def test_two_instances_share_one_data_directory(start_berth, tmp_path):
    """Behind a round-robin load balancer: an upload begun on one instance continues and
    completes on the other, and each serves what the other stored."""
    shared = {"storage": {"filesystem": {"rootdirectory": str(tmp_path / "shared")}}}
    a, b = start_berth(shared), start_berth(shared)
    data = os.urandom(300_000)
    loc = requests.post(f"{a.url}/v2/team/app/blobs/uploads/").headers["Location"]
    path = loc.split(str(a.port), 1)[1]
    r = requests.patch(a.url + path, data=data[:100_000], headers={"Content-Range": "0-99999"})
    assert r.status_code == 202
    r = requests.patch(b.url + path, data=data[100_000:200_000], headers={"Content-Range": "100000-199999"})
    assert r.status_code == 202
    r = requests.put(a.url + path, params={"digest": digest(data)}, data=data[200_000:])
    assert r.status_code == 201, r.text
    assert requests.get(f"{b.url}/v2/team/app/blobs/{digest(data)}").content == data
    body = image(b.url, "team/app")
    assert put_manifest(b.url, "team/app", "v1", body).status_code == 201
    assert requests.get(f"{a.url}/v2/team/app/manifests/v1").content == body


def test_drain_timeout_bounds_shutdown(start_berth):
    b = start_berth({"http": {"draintimeout": "1s"}})
    loc = requests.post(f"{b.url}/v2/team/app/blobs/uploads/").headers["Location"]
    path = loc.split(str(b.port), 1)[1]
    s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    s.sendall(f"PATCH {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc".encode())  # never finished
    time.sleep(0.3)
    started = time.time()
    b.proc.send_signal(signal.SIGTERM)
    assert b.proc.wait(10) == 0
    assert time.time() - started < 3
    s.close()
    assert "request cancelled by shutdown" in b.logs()
    assert "level=error" not in b.logs()


def test_access_log_is_its_own_stream_and_other_lines_honour_level(tmp_path):
    """As registry:2: the access log goes to stdout in the combined log format whatever
    log.level says; every other line goes to stderr and honours log.level."""
    from peers import free_port, wait_for, port_open
    port = free_port()
    config = tmp_path / "config.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: warn\nhttp:\n  addr: 127.0.0.1:{port}\n"
                      f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n")
    out, err = open(tmp_path / "out", "w"), open(tmp_path / "err", "w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    p = subprocess.Popen([BERTH, "serve", str(config)], stdout=out, stderr=err, env=env)
    try:
        wait_for(lambda: port_open(port), what="berth to listen")
        requests.get(f"http://127.0.0.1:{port}/v2/", headers={"User-Agent": 'ua "quoted"'})
        requests.get(f"http://127.0.0.1:{port}/v2/team/app/tags/list")
        time.sleep(0.2)
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
    stdout, stderr = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    lines = stdout.splitlines()
    assert len(lines) == 2, stdout
    assert re.fullmatch(r'127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                        r'"GET /v2/ HTTP/1\.1" 200 2 "" "ua \\"quoted\\""', lines[0]), lines[0]
    assert '"GET /v2/team/app/tags/list HTTP/1.1" 404' in lines[1]
    # Nothing at info level: neither the start-up line nor the one at shutdown.
    assert "level=info" not in stderr and "listening on" not in stderr, stderr


def test_drain_timeout_ends_stalled_download(start_berth):
    # A client that stops reading a large blob holds its connection until the idle timeout (60 s
    # here); shutdown must not wait that long past the drain timeout.
    b = start_berth({"http": {"draintimeout": "1s"}})
    d = push_blob(b.url, "team/app", bytes(64 << 20))
    s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(f"GET /v2/team/app/blobs/{d} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    time.sleep(0.5)  # the server's writes stall: we read nothing more
    started = time.time()
    b.proc.send_signal(signal.SIGTERM)
    assert b.proc.wait(15) == 0
    assert time.time() - started < 4
    s.close()


def test_debug_listener_answers_health_and_readiness_and_says_not_ready_while_draining(start_berth):
    """`http.debug.addr`: `/debug/health` as on the API port, `/debug/ready` 200 while serving
    and 503 from the moment SIGTERM arrives, for the whole drain, while the API port already
    refuses new connections and a request in flight finishes."""
    from peers import free_port
    port = free_port()
    b = start_berth({"http": {"debug": {"addr": f"127.0.0.1:{port}"}, "draintimeout": "10s"}})
    debug = f"http://127.0.0.1:{port}"
    assert f"debug listener on http://127.0.0.1:{port}" in b.logs()
    assert requests.get(f"{debug}/debug/health").status_code == 200
    r = requests.get(f"{debug}/debug/ready")
    assert r.status_code == 200 and r.json() == {"ready": True}
    assert requests.get(f"{debug}/v2/").status_code == 404  # the API is not served here
    # An upload in flight holds the drain open.
    data = os.urandom(200_000)
    s = upload_in_flight(b, data)
    b.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    r = requests.get(f"{debug}/debug/ready")
    assert r.status_code == 503 and r.json()["ready"] is False
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", b.port), timeout=1).close()
    s.sendall(data[1000:])
    assert s.recv(4096).startswith(b"HTTP/1.1 201")
    assert b.proc.wait(15) == 0
