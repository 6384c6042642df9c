"""Push: every upload flow of the OCI distribution spec, with its error cases."""
import os
import requests

from conftest import STORAGE, absolute, digest, filesystem_only, oci_error, push_blob
from peers import Registry2


def start(url, name="team/app"):
    r = requests.post(f"{url}/v2/{name}/blobs/uploads/")
    assert r.status_code == 202
    assert r.headers["Range"] == "0-0"
    assert r.headers["Content-Length"] == "0"
    assert r.headers["Docker-Upload-UUID"]
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    return absolute(url, r.headers["Location"])


def test_post_then_put_monolithic(berth):
    data = os.urandom(100_000)
    loc = start(berth.url)
    r = requests.put(loc, params={"digest": digest(data)}, data=data)
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == digest(data)
    assert r.headers["Location"].endswith(f"/v2/team/app/blobs/{digest(data)}")
    assert requests.get(absolute(berth.url, r.headers["Location"])).content == data


def test_single_post_with_digest_stores_body(berth):
    data = b"single post body"
    r = requests.post(f"{berth.url}/v2/team/app/blobs/uploads/", params={"digest": digest(data)}, data=data)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest(data)
    assert requests.get(f"{berth.url}/v2/team/app/blobs/{digest(data)}").content == data


def test_chunked_patches_with_content_range(berth):
    data = os.urandom(30_000)
    loc = start(berth.url)
    for offset in range(0, len(data), 10_000):
        chunk = data[offset:offset + 10_000]
        r = requests.patch(loc, data=chunk, headers={
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}", "Content-Type": "application/octet-stream"})
        assert r.status_code == 202, r.text
        assert r.headers["Range"] == f"0-{offset + len(chunk) - 1}"
        loc = absolute(berth.url, r.headers["Location"])
    r = requests.put(loc, params={"digest": digest(data)})
    assert r.status_code == 201
    assert requests.get(f"{berth.url}/v2/team/app/blobs/{digest(data)}").content == data


def test_streamed_patch_without_content_range(berth):
    data = os.urandom(200_000)

    def gen():  # chunked transfer encoding, as skopeo streams
        for i in range(0, len(data), 7_000):
            yield data[i:i + 7_000]

    loc = start(berth.url)
    r = requests.patch(loc, data=gen())
    assert r.status_code == 202
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    r = requests.put(absolute(berth.url, r.headers["Location"]), params={"digest": digest(data)})
    assert r.status_code == 201


def test_put_carries_last_chunk(berth):
    data = b"a" * 5000 + b"b" * 5000
    loc = start(berth.url)
    r = requests.patch(loc, data=data[:5000], headers={"Content-Range": "0-4999"})
    loc = absolute(berth.url, r.headers["Location"])
    r = requests.put(loc, params={"digest": digest(data)}, data=data[5000:],
                     headers={"Content-Range": "5000-9999"})
    assert r.status_code == 201, r.text
    assert requests.get(f"{berth.url}/v2/team/app/blobs/{digest(data)}").content == data


def test_out_of_order_chunk_is_416_with_range_and_location(berth):
    loc = start(berth.url)
    requests.patch(loc, data=b"x" * 10, headers={"Content-Range": "0-9"})
    r = requests.patch(loc, data=b"y" * 10, headers={"Content-Range": "20-29"})
    oci_error(r, "RANGE_INVALID", 416)
    assert r.headers["Range"] == "0-9"
    assert "/blobs/uploads/" in r.headers["Location"]
    # A retry of the chunk already stored is out of order too.
    r = requests.patch(loc, data=b"x" * 10, headers={"Content-Range": "0-9"})
    assert r.status_code == 416
    assert r.headers["Range"] == "0-9"


def test_upload_status_is_204_with_range(berth):
    loc = start(berth.url)
    r = requests.get(loc)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-0"
    requests.patch(loc, data=b"z" * 42)
    r = requests.get(loc)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-41"
    assert "/blobs/uploads/" in r.headers["Location"]
    assert r.headers["Docker-Upload-UUID"]


def test_cancel_upload(berth):
    loc = start(berth.url)
    assert requests.delete(loc).status_code == 204
    oci_error(requests.get(loc), "BLOB_UPLOAD_UNKNOWN", 404)
    oci_error(requests.patch(loc, data=b"x"), "BLOB_UPLOAD_UNKNOWN", 404)


def test_unknown_and_malformed_upload_ids(berth):
    oci_error(requests.get(f"{berth.url}/v2/team/app/blobs/uploads/00000000-0000-0000-0000-000000000000"),
              "BLOB_UPLOAD_UNKNOWN", 404)
    oci_error(requests.get(f"{berth.url}/v2/team/app/blobs/uploads/not-a-uuid"), "BLOB_UPLOAD_UNKNOWN", 404)


def test_digest_mismatch_stores_nothing(berth):
    loc = start(berth.url)
    wrong = digest(b"something else")
    r = requests.put(loc, params={"digest": wrong}, data=b"actual bytes")
    oci_error(r, "DIGEST_INVALID", 400)
    assert requests.head(f"{berth.url}/v2/team/app/blobs/{wrong}").status_code == 404
    assert requests.head(f"{berth.url}/v2/team/app/blobs/{digest(b'actual bytes')}").status_code == 404
    if STORAGE == "filesystem":
        assert not any("actual" in open(os.path.join(d, f), "rb").read().decode(errors="ignore")
                       for d, _, fs in os.walk(os.path.join(berth.data, "docker/registry/v2/blobs")) for f in fs)


def test_put_without_digest_is_refused(berth):
    loc = start(berth.url)
    oci_error(requests.put(loc, data=b"abc"), "DIGEST_INVALID", 400)


def test_put_with_unsupported_digest_algorithm(berth):
    loc = start(berth.url)
    oci_error(requests.put(loc, params={"digest": "md5:0123"}, data=b"abc"), "DIGEST_INVALID", 400)


def test_sha512_blob(berth):
    data = os.urandom(5000)
    d = push_blob(berth.url, "team/app", data, alg="sha512")
    assert d.startswith("sha512:")
    r = requests.get(f"{berth.url}/v2/team/app/blobs/{d}")
    assert r.status_code == 200 and r.content == data
    assert r.headers["Docker-Content-Digest"] == d
    if STORAGE == "filesystem":
        assert os.path.exists(os.path.join(berth.data, "docker/registry/v2/blobs/sha512", d[7:9], d[7:], "data"))


def test_empty_blob(berth):
    d = push_blob(berth.url, "team/app", b"")
    r = requests.get(f"{berth.url}/v2/team/app/blobs/{d}")
    assert r.status_code == 200 and r.content == b""


def test_percent_encoded_digest_query(berth):
    data = b"skopeo style"
    loc = start(berth.url)
    sep = "&" if "?" in loc else "?"
    r = requests.put(loc + sep + "digest=" + digest(data).replace(":", "%3A"), data=data)
    assert r.status_code == 201


def test_mount_from_other_repository(berth):
    data = b"shared layer"
    d = push_blob(berth.url, "team/base", data)
    r = requests.post(f"{berth.url}/v2/team/app/blobs/uploads/", params={"mount": d, "from": "team/base"})
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == d
    assert r.headers["Location"].endswith(f"/v2/team/app/blobs/{d}")
    assert requests.get(f"{berth.url}/v2/team/app/blobs/{d}").content == data


def test_mount_falls_back_to_upload(berth):
    d = digest(b"nowhere")
    r = requests.post(f"{berth.url}/v2/team/app/blobs/uploads/", params={"mount": d, "from": "team/base"})
    assert r.status_code == 202
    assert "/blobs/uploads/" in r.headers["Location"]
    # From a repository that does not have the blob (even though the registry has it).
    have = push_blob(berth.url, "team/other", b"elsewhere")
    r = requests.post(f"{berth.url}/v2/team/app/blobs/uploads/", params={"mount": have, "from": "team/base"})
    assert r.status_code == 202


def test_mount_without_from_starts_an_upload(berth):
    # As registry:2: mounting from anywhere would leak content across repositories.
    d = push_blob(berth.url, "team/base", b"anywhere")
    r = requests.post(f"{berth.url}/v2/team/app/blobs/uploads/", params={"mount": d})
    assert r.status_code == 202
    assert "/v2/team/app/blobs/uploads/" in r.headers["Location"]
    assert requests.get(f"{berth.url}/v2/team/app/blobs/{d}").status_code == 404


def test_upload_in_one_repository_is_not_another(berth):
    loc = start(berth.url, "team/app")
    other = loc.replace("/team/app/", "/team/other/")
    oci_error(requests.get(other), "BLOB_UPLOAD_UNKNOWN", 404)


def test_upload_survives_restart(berth):
    data = os.urandom(50_000)
    loc = start(berth.url)
    requests.patch(loc, data=data[:20_000], headers={"Content-Range": "0-19999"})
    berth.restart()
    r = requests.get(loc)
    assert r.status_code == 204 and r.headers["Range"] == "0-19999"
    r = requests.patch(loc, data=data[20_000:], headers={"Content-Range": f"20000-{len(data) - 1}"})
    assert r.status_code == 202
    r = requests.put(absolute(berth.url, r.headers["Location"]), params={"digest": digest(data)})
    assert r.status_code == 201, r.text
    assert requests.get(f"{berth.url}/v2/team/app/blobs/{digest(data)}").content == data


@filesystem_only
def test_upload_layout_matches_registry2(berth):
    loc = start(berth.url)
    uuid = loc.rstrip("/").split("/")[-1].split("?")[0]
    updir = os.path.join(berth.data, "docker/registry/v2/repositories/team/app/_uploads", uuid)
    assert os.path.exists(os.path.join(updir, "startedat"))
    requests.patch(loc, data=b"abc")
    assert open(os.path.join(updir, "data"), "rb").read() == b"abc"


@filesystem_only
def test_hash_states_are_stored_as_registry2_stores_them(berth, tmp_path):
    """After every PATCH the upload's SHA-256 state is stored where registry:2 stores it, in its
    format, so that another replica (or registry:2 on the same storage) goes on hashing from
    there: the same chunks pushed to both leave the same files."""
    registry2 = Registry2(str(tmp_path), str(tmp_path / "registry2-data"))
    try:
        data = os.urandom(180_077)
        ends = [100_000, 100_077, 180_077]
        states = {}
        for name, url, root in (("berth", berth.url, berth.data),
                                ("registry2", registry2.url, str(tmp_path / "registry2-data"))):
            loc, start_at = start(url), 0
            uuid = loc.rstrip("/").split("/")[-1].split("?")[0]
            for end in ends:
                r = requests.patch(loc, data=data[start_at:end],
                                   headers={"Content-Range": f"{start_at}-{end - 1}",
                                            "Content-Type": "application/octet-stream"})
                assert r.status_code == 202, r.text
                loc, start_at = absolute(url, r.headers["Location"]), end
            statedir = os.path.join(root, "docker/registry/v2/repositories/team/app/_uploads", uuid,
                                    "hashstates/sha256")
            states[name] = {end: open(os.path.join(statedir, str(end)), "rb").read() for end in ends}
            r = requests.put(loc, params={"digest": digest(data)})
            assert r.status_code == 201, r.text
            assert not os.path.exists(os.path.dirname(os.path.dirname(statedir)))  # gone with the upload
        assert states["berth"] == states["registry2"]
    finally:
        registry2.stop()
