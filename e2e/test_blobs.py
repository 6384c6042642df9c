"""Pull of blobs: headers, ranges, repository isolation, deletion."""
import concurrent.futures
import os
import socket
import time
import requests

from conftest import digest, oci_error, push_blob


def test_get_and_head_headers(berth):
    data = os.urandom(4096)
    d = push_blob(berth.url, "team/app", data)
    for method in ("GET", "HEAD"):
        r = requests.request(method, f"{berth.url}/v2/team/app/blobs/{d}")
        assert r.status_code == 200
        assert r.headers["Docker-Content-Digest"] == d
        assert r.headers["Content-Length"] == "4096"
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert r.headers["ETag"] == f'"{d}"'
        assert r.headers["Accept-Ranges"] == "bytes"
        assert r.headers["Cache-Control"] == "max-age=31536000"
        assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert requests.get(f"{berth.url}/v2/team/app/blobs/{d}").content == data
    assert requests.head(f"{berth.url}/v2/team/app/blobs/{d}").content == b""


def test_ranges(berth):
    data = bytes(range(256)) * 4
    d = push_blob(berth.url, "team/app", data)
    url = f"{berth.url}/v2/team/app/blobs/{d}"
    r = requests.get(url, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    r = requests.get(url, headers={"Range": "bytes=1000-"})
    assert r.status_code == 206 and r.content == data[1000:]
    r = requests.get(url, headers={"Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == data[-5:]
    r = requests.get(url, headers={"Range": "bytes=5000-6000"})
    oci_error(r, "RANGE_INVALID", 416)
    assert r.headers["Content-Range"] == f"bytes */{len(data)}"
    r = requests.get(url, headers={"Range": "bytes=abc"})
    assert r.status_code == 416
    # Several ranges: served whole, as RFC 9110 allows.
    r = requests.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert r.status_code == 200 and r.content == data


def test_unknown_blob(berth):
    d = digest(b"never pushed")
    err = oci_error(requests.get(f"{berth.url}/v2/team/app/blobs/{d}"), "BLOB_UNKNOWN", 404)
    assert err["detail"]["digest"] == d
    assert requests.head(f"{berth.url}/v2/team/app/blobs/{d}").status_code == 404


def test_blob_is_only_visible_in_its_repository(berth):
    d = push_blob(berth.url, "team/app", b"private")
    assert requests.get(f"{berth.url}/v2/team/other/blobs/{d}").status_code == 404


def test_malformed_digest_is_400(berth):
    for bad in ("sha256:abc", "sha256:" + "G" * 64, "nope", "sha256:" + "A" * 64):
        oci_error(requests.get(f"{berth.url}/v2/team/app/blobs/{bad}"), "DIGEST_INVALID", 400)
    oci_error(requests.get(f"{berth.url}/v2/team/app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e"),
              "DIGEST_INVALID", 400)


def test_delete_blob(berth):
    d = push_blob(berth.url, "team/app", b"to delete")
    r = requests.delete(f"{berth.url}/v2/team/app/blobs/{d}")
    assert r.status_code == 202
    assert requests.get(f"{berth.url}/v2/team/app/blobs/{d}").status_code == 404
    oci_error(requests.delete(f"{berth.url}/v2/team/app/blobs/{d}"), "BLOB_UNKNOWN", 404)


def test_delete_disabled(start_berth):
    b = start_berth({"storage": {"delete": {"enabled": False}}})
    d = push_blob(b.url, "team/app", b"kept")
    oci_error(requests.delete(f"{b.url}/v2/team/app/blobs/{d}"), "UNSUPPORTED", 405)
    assert requests.get(f"{b.url}/v2/team/app/blobs/{d}").status_code == 200


def test_large_blob_streams_intact(berth):
    data = os.urandom(40 * 1024 * 1024)
    d = push_blob(berth.url, "team/big", data)
    r = requests.get(f"{berth.url}/v2/team/big/blobs/{d}", stream=True)
    got = b"".join(r.iter_content(1 << 20))
    assert digest(got) == d


def test_large_blob_ranges_and_keep_alive(berth):
    # Bodies from 1 MiB up are sent from a thread of their own; the connection must carry on
    # after them, and a range must start where it says.
    data = os.urandom(5 * 1024 * 1024 + 17)
    d = push_blob(berth.url, "team/big", data)
    url = f"{berth.url}/v2/team/big/blobs/{d}"
    with requests.Session() as session:
        for _ in range(2):
            assert session.get(url).content == data
        r = session.get(url, headers={"Range": "bytes=1048575-4194400"})
        assert r.status_code == 206 and r.content == data[1048575:4194401]
        r = session.get(url, headers={"Range": f"bytes=-{3 << 20}"})
        assert r.status_code == 206 and r.content == data[-(3 << 20):]
        assert session.get(f"{berth.url}/v2/").status_code == 200


def test_more_concurrent_pulls_than_sender_threads(berth):
    # 80 streams: 64 get a sender thread, the rest the event loops' sendfile; all must be intact.
    data = os.urandom(2 * 1024 * 1024)
    d = push_blob(berth.url, "team/many", data)

    def pull(_):
        return digest(requests.get(f"{berth.url}/v2/team/many/blobs/{d}").content)

    with concurrent.futures.ThreadPoolExecutor(80) as pool:
        assert set(pool.map(pull, range(80))) == {d}


def test_pull_intact_while_other_pulls_come_and_go(berth):
    # While few transfers run, a sender copies through a buffer; when more arrive it switches
    # to sendfile, and back when they leave. Readers that stall across both switches must
    # still get every byte in order. Small receive buffers keep the server's sends in step with
    # what the test reads.
    data = os.urandom(24 << 20)
    d = push_blob(berth.url, "team/switch", data)
    request = f"GET /v2/team/switch/blobs/{d} HTTP/1.1\r\nHost: x\r\n\r\n".encode()

    def start():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        s.connect(("127.0.0.1", berth.port))
        s.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        assert head.startswith(b"HTTP/1.1 200")
        return s, bytearray()

    def read(reader, upto):
        s, body = reader
        while len(body) < upto:
            chunk = s.recv(min(1 << 20, upto - len(body)))
            assert chunk, f"connection closed after {len(body)} bytes"
            body += chunk

    stalled = [start() for _ in range(2)]
    for reader in stalled:
        read(reader, 1 << 20)
    time.sleep(0.3)  # the senders fill the sockets and wait, holding copied bytes
    crowd = [start() for _ in range(min(2 * os.cpu_count() + 4, 60))]
    for reader in crowd:
        read(reader, 64 << 10)
    time.sleep(0.3)
    for reader in stalled:
        read(reader, 6 << 20)  # sent while the crowd is there
    for reader in crowd:
        read(reader, len(data))
        reader[0].close()
        assert digest(bytes(reader[1])) == d
    time.sleep(0.3)
    for reader in stalled:
        read(reader, len(data))  # few transfers again
        reader[0].close()
        assert digest(bytes(reader[1])) == d
