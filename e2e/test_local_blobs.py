"""The local blob cache in front of S3 (`storage.cache.localblobs`): a pull fills it with a
verified copy, the next is sent from that file, the least recently used copy goes beyond the size
cap, and an interrupted fill left by a crash is removed at start and never served."""
import os

import requests

from conftest import Berth, digest, push_blob
from peers import wait_for


def start(tmp_path, seaweed, root, maxsize="3MiB"):
    d = tmp_path / f"berth-{os.urandom(2).hex()}"
    d.mkdir()
    return Berth(str(d), {"storage": {
        "s3": seaweed.config(root), "redirect": {"disable": True},
        "cache": {"localblobs": {"directory": str(tmp_path / "blobs"), "maxsize": maxsize}}}}).start()


def copy(tmp_path, blob):
    return tmp_path / "blobs" / "sha256" / digest(blob).split(":")[1]


def test_pulls_fill_verified_copies_and_the_least_recently_used_goes(tmp_path, seaweed):
    root = "localblobs-" + os.urandom(4).hex()
    b = start(tmp_path, seaweed, root)
    try:
        one, two, three = (os.urandom(1 << 20) for _ in range(3))
        for blob in (one, two, three):
            push_blob(b.url, "team/app", blob)
        assert requests.get(f"{b.url}/v2/team/app/blobs/{digest(one)}").content == one
        assert copy(tmp_path, one).read_bytes() == one
        r = requests.get(f"{b.url}/v2/team/app/blobs/{digest(one)}", headers={"Range": "bytes=10-19"})
        assert r.status_code == 206 and r.content == one[10:20]
        assert requests.get(f"{b.url}/v2/team/app/blobs/{digest(two)}").content == two
        assert requests.get(f"{b.url}/v2/team/app/blobs/{digest(one)}").content == one  # one is used last
        assert requests.get(f"{b.url}/v2/team/app/blobs/{digest(three)}").content == three
        # 3 MiB cap: two copies fit with room to spare but not three; two was used least recently.
        wait_for(lambda: copy(tmp_path, three).exists(), timeout=10, what="three copied")
        assert copy(tmp_path, one).exists()
        four = os.urandom(1 << 20)
        push_blob(b.url, "team/app", four)
        assert requests.get(f"{b.url}/v2/team/app/blobs/{digest(four)}").content == four
        # The fill names its copy and evicts once it has hashed the last byte, which may be a
        # moment after the client has read it.
        wait_for(lambda: not copy(tmp_path, two).exists(), timeout=10, what="two evicted")
        assert requests.get(f"{b.url}/v2/team/app/blobs/{digest(two)}").content == two  # from S3 again
    finally:
        b.stop()


def test_a_fill_interrupted_by_a_crash_is_removed_and_a_wrong_copy_never_served(tmp_path, seaweed):
    root = "localblobs-" + os.urandom(4).hex()
    b = start(tmp_path, seaweed, root)
    blob = os.urandom(1 << 20)
    push_blob(b.url, "team/app", blob)
    b.stop()
    # What a crash mid-fill leaves: a partial file under filling/.
    filling = tmp_path / "blobs" / "filling"
    filling.mkdir(parents=True)
    (filling / "partial").write_bytes(blob[:1000])
    b = start(tmp_path, seaweed, root)
    try:
        assert not (filling / "partial").exists()
        assert requests.get(f"{b.url}/v2/team/app/blobs/{digest(blob)}").content == blob
        assert copy(tmp_path, blob).read_bytes() == blob
    finally:
        b.stop()
