"""The bad-input catalogue: each answered with the right 4xx, and the server keeps serving."""
import json
import os
import socket
import time

import requests

from conftest import OCI_MANIFEST, digest, oci_error, push_blob


def raw(berth, data, read_timeout=5):
    """Sends raw bytes on a fresh connection and returns what comes back until close/timeout."""
    s = socket.create_connection(("127.0.0.1", berth.port), timeout=read_timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def still_serving(berth):
    r = requests.get(f"{berth.url}/v2/")
    assert r.status_code == 200 and r.json() == {}


def test_malformed_names(berth):
    for name in ("Team/App", "team/../app", "team//app", "team/app/", "-team/app", "team/app-", "a" * 300,
                 "team/a..b", "team/a___b", "tEAM"):
        r = requests.get(f"{berth.url}/v2/{name}/tags/list")
        assert r.status_code in (400, 404), (name, r.status_code)
        if r.status_code == 400:
            oci_error(r, "NAME_INVALID")
    oci_error(requests.get(f"{berth.url}/v2/Team/App/tags/list"), "NAME_INVALID", 400)
    oci_error(requests.get(f"{berth.url}/v2/{'a' * 300}/tags/list"), "NAME_INVALID", 400)
    oci_error(requests.post(f"{berth.url}/v2/te%2Fam/blobs/uploads/"), "NAME_INVALID", 400)
    still_serving(berth)


def test_valid_names_with_separators(berth):
    for name in ("a", "a/b/c/d", "a.b/c_d/e__f/g-h/i---j", "0/9"):
        push_blob(berth.url, name, b"ok")
        assert requests.get(f"{berth.url}/v2/{name}/blobs/{digest(b'ok')}").status_code == 200


def test_unknown_endpoints_and_methods(berth):
    oci_error(requests.get(f"{berth.url}/v2/team/app/unknown/thing"), "UNSUPPORTED", 404)
    oci_error(requests.post(f"{berth.url}/v2/team/app/tags/list"), "UNSUPPORTED", 405)
    oci_error(requests.patch(f"{berth.url}/v2/team/app/manifests/v1"), "UNSUPPORTED", 405)
    r = requests.get(f"{berth.url}/notv2")
    assert r.status_code == 404
    still_serving(berth)


def test_bad_content_range(berth):
    loc = requests.post(f"{berth.url}/v2/team/app/blobs/uploads/").headers["Location"]
    oci_error(requests.patch(loc, data=b"abc", headers={"Content-Range": "garbage"}), "RANGE_INVALID", 416)
    oci_error(requests.patch(loc, data=b"abc", headers={"Content-Range": "5-2"}), "RANGE_INVALID", 416)
    oci_error(requests.patch(loc, data=b"abc", headers={"Content-Range": "0-9"}), "SIZE_INVALID", 400)
    oci_error(requests.patch(loc, data=b"abc", headers={"Content-Range": "0-9223372036854775807"}), "SIZE_INVALID", 400)
    oci_error(requests.patch(loc, data=b"abc", headers={"Content-Range": "0-99999999999999999999"}), "RANGE_INVALID", 416)
    r = requests.get(f"{berth.url}/v2/team/app/blobs/{push_blob(berth.url, 'team/app', b'0123')}",
                     headers={"Range": "bytes=0-9223372036854775807"})
    assert r.status_code == 206 and r.content == b"0123"
    assert requests.get(loc).headers["Range"] == "0-0"
    still_serving(berth)


def test_truncated_body_never_becomes_a_blob(berth):
    data = b"x" * 1000
    r = requests.post(f"{berth.url}/v2/team/app/blobs/uploads/")
    path = r.headers["Location"].split(str(berth.port), 1)[1]
    sep = "&" if "?" in path else "?"
    req = (f"PUT {path}{sep}digest={digest(data)} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n").encode()
    raw(berth, req + data[:10], read_timeout=1)  # client hangs up after 10 bytes
    time.sleep(0.3)
    assert requests.head(f"{berth.url}/v2/team/app/blobs/{digest(data)}").status_code == 404
    still_serving(berth)


def test_truncated_manifest_body(berth):
    req = (b"PUT /v2/team/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: " + OCI_MANIFEST.encode() +
           b"\r\nContent-Length: 500\r\n\r\n{\"schema")
    raw(berth, req, read_timeout=1)
    assert requests.get(f"{berth.url}/v2/team/app/manifests/v1").status_code == 404
    still_serving(berth)


def test_huge_header_is_431(berth):
    out = raw(berth, b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431"), out[:200]
    body = out.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["errors"][0]["message"]
    still_serving(berth)


def test_garbage_request_is_400(berth):
    out = raw(berth, b"\x16\x03\x01 this is not http\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out[:200]
    still_serving(berth)


def test_long_url_is_414(berth):
    r = requests.get(f"{berth.url}/v2/team/app/tags/list?x=" + "a" * 10_000)
    assert r.status_code == 414
    still_serving(berth)


def test_silent_client_is_dropped_and_others_served(start_berth):
    b = start_berth({"http": {"idletimeout": "1s"}})
    s = socket.create_connection(("127.0.0.1", b.port))
    still_serving(b)
    s.settimeout(5)
    started = time.time()
    assert s.recv(100) == b""  # closed by the server
    assert time.time() - started < 4
    s.close()
    still_serving(b)


def test_stalled_upload_is_dropped(start_berth):
    b = start_berth({"http": {"idletimeout": "1s"}})
    r = requests.post(f"{b.url}/v2/team/app/blobs/uploads/")
    path = r.headers["Location"].split(str(b.port), 1)[1]
    s = socket.create_connection(("127.0.0.1", b.port))
    s.sendall(f"PATCH {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc".encode())
    s.settimeout(5)
    assert s.recv(100) == b""
    s.close()
    still_serving(b)


def test_wrong_digest_in_path_and_query(berth):
    oci_error(requests.post(f"{berth.url}/v2/team/app/blobs/uploads/", params={"digest": "sha256:123"}, data=b"x"),
              "DIGEST_INVALID", 400)
    uploads = os.path.join(berth.data, "docker/registry/v2/repositories/team/app/_uploads")
    assert not os.path.exists(uploads) or os.listdir(uploads) == []  # a refused upload leaves nothing
    oci_error(requests.post(f"{berth.url}/v2/team/app/blobs/uploads/", params={"mount": "bogus", "from": "a"}),
              "DIGEST_INVALID", 400)
    oci_error(requests.post(f"{berth.url}/v2/team/app/blobs/uploads/", params={"mount": digest(b"x"), "from": "A"}),
              "NAME_INVALID", 400)
    still_serving(berth)


def test_keep_alive_and_pipelining(berth):
    d = push_blob(berth.url, "team/app", b"pipelined")
    req = f"GET /v2/team/app/blobs/{d} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    s = socket.create_connection(("127.0.0.1", berth.port), timeout=5)
    s.sendall(req * 3)
    out = b""
    while out.count(b"pipelined") < 3:
        chunk = s.recv(65536)
        assert chunk
        out += chunk
    assert out.count(b"HTTP/1.1 200 OK") == 3
    s.close()


def test_expect_100_continue(berth):
    data = b"continued body"
    s = socket.create_connection(("127.0.0.1", berth.port), timeout=5)
    s.sendall((f"POST /v2/team/app/blobs/uploads/?digest={digest(data)} HTTP/1.1\r\nHost: x\r\n"
               f"Content-Length: {len(data)}\r\nExpect: 100-continue\r\n\r\n").encode())
    assert s.recv(100).startswith(b"HTTP/1.1 100 Continue")
    s.sendall(data)
    out = s.recv(4096)
    assert out.startswith(b"HTTP/1.1 201"), out
    s.close()


def test_expect_100_continue_refused_early(berth):
    s = socket.create_connection(("127.0.0.1", berth.port), timeout=5)
    s.sendall(b"PUT /v2/Bad/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
    out = s.recv(4096)
    assert out.startswith(b"HTTP/1.1 400"), out
    s.close()
    still_serving(berth)


def test_client_that_stops_reading_is_dropped(start_berth):
    b = start_berth({"http": {"idletimeout": "1s"}})
    size = 64 << 20
    d = push_blob(b.url, "team/app", b"\0" * size)
    s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(f"GET /v2/team/app/blobs/{d} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(4)  # read nothing: the server's writes stall
    received = 0
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        received += len(chunk)
    s.close()
    assert received < size, "the server kept a stalled connection open"
    still_serving(b)


def test_trickling_headers_are_cut_off(start_berth):
    b = start_berth({"http": {"idletimeout": "2s"}})
    s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    started = time.time()
    closed = False
    for byte in b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
        try:
            s.sendall(bytes([byte]))  # one byte every half second: never idle, never done
        except OSError:
            closed = True
            break
        time.sleep(0.5)
        if time.time() - started > 6:
            break
    if not closed:
        s.settimeout(1)
        try:
            closed = s.recv(100) == b""
        except OSError:
            closed = True
    s.close()
    assert closed and time.time() - started < 6
    still_serving(b)


def test_slow_but_steady_reader_is_kept(start_berth):
    # A pull that takes longer than the idle timeout is fine as long as the client keeps reading.
    b = start_berth({"http": {"idletimeout": "1s"}})
    data = os.urandom(16 << 20)
    d = push_blob(b.url, "team/app", data)
    s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    request = f"GET /v2/team/app/blobs/{d} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    s.sendall(request)
    started = time.time()
    received = b""
    while b"\r\n\r\n" not in received:
        received += s.recv(4096)
    head, body = received.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    while len(body) < len(data):
        chunk = s.recv(512 * 1024)
        assert chunk, f"the server dropped a client that kept reading, after {len(body)} bytes"
        body += chunk
        # Slowly for longer than the idle timeout, then at full speed: the server has sent its
        # last byte only just before we read it, and the next request comes well within the
        # idle timeout of the response's end.
        if len(body) < 12 << 20:
            time.sleep(0.1)
    assert body == data
    assert time.time() - started > 2  # it did take longer than the idle timeout
    s.sendall(request.replace(f"blobs/{d}".encode(), b"tags/list"))  # and the connection lives on
    assert s.recv(100).startswith(b"HTTP/1.1 ")
    s.close()
