"""Manifests: every type, the checks before linking, tags, deletion, registry:2's layout."""
import json
import os
import requests

from conftest import (DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, STORAGE, digest, filesystem_only,
                      image, oci_error, push_blob, put_manifest)

V2 = "docker/registry/v2"


def test_put_and_get_oci_manifest(berth):
    body = image(berth.url, "team/app")
    r = put_manifest(berth.url, "team/app", "v1", body)
    assert r.status_code == 201, r.text
    d = digest(body)
    assert r.headers["Docker-Content-Digest"] == d
    assert r.headers["Location"].endswith(f"/v2/team/app/manifests/{d}")
    for ref in ("v1", d):
        r = requests.get(f"{berth.url}/v2/team/app/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200
        assert r.content == body  # the bytes as pushed
        assert r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == d
        assert r.headers["ETag"] == f'"{d}"'
        h = requests.head(f"{berth.url}/v2/team/app/manifests/{ref}")
        assert h.status_code == 200 and h.headers["Content-Length"] == str(len(body)) and h.content == b""


@filesystem_only
def test_layout_is_registry2s(berth):
    body = image(berth.url, "team/app")
    put_manifest(berth.url, "team/app", "v1", body)
    d = digest(body)[7:]
    repo = os.path.join(berth.data, V2, "repositories/team/app")
    link = open(os.path.join(repo, "_manifests/tags/v1/current/link")).read()
    assert link == "sha256:" + d  # no newline
    assert os.path.exists(os.path.join(repo, "_manifests/tags/v1/index/sha256", d, "link"))
    assert os.path.exists(os.path.join(repo, "_manifests/revisions/sha256", d, "link"))
    assert open(os.path.join(berth.data, V2, "blobs/sha256", d[:2], d, "data"), "rb").read() == body
    layers = os.listdir(os.path.join(repo, "_layers/sha256"))
    assert len(layers) == 2  # config and layer


def test_docker_schema2_and_manifest_list(berth):
    body = image(berth.url, "team/app", media_type=DOCKER_MANIFEST)
    r = put_manifest(berth.url, "team/app", "amd64", body, DOCKER_MANIFEST)
    assert r.status_code == 201, r.text
    lst = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "digest": digest(body), "size": len(body),
         "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    r = put_manifest(berth.url, "team/app", "latest", lst, DOCKER_LIST)
    assert r.status_code == 201, r.text
    r = requests.get(f"{berth.url}/v2/team/app/manifests/latest")
    assert r.headers["Content-Type"] == DOCKER_LIST and r.content == lst


def test_oci_index_and_missing_child(berth):
    body = image(berth.url, "team/app")
    put_manifest(berth.url, "team/app", "one", body)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest(body), "size": len(body)}]}
    r = put_manifest(berth.url, "team/app", "multi", json.dumps(index).encode(), OCI_INDEX)
    assert r.status_code == 201
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": digest(b"absent"), "size": 6})
    r = put_manifest(berth.url, "team/app", "broken", json.dumps(index).encode(), OCI_INDEX)
    oci_error(r, "MANIFEST_BLOB_UNKNOWN", 400)


def test_put_by_digest(berth):
    body = image(berth.url, "team/app")
    r = put_manifest(berth.url, "team/app", digest(body), body)
    assert r.status_code == 201
    r = put_manifest(berth.url, "team/app", digest(b"other"), body)
    oci_error(r, "DIGEST_INVALID", 400)


def test_sha512_manifest(berth):
    body = image(berth.url, "team/app")
    d = digest(body, "sha512")
    r = put_manifest(berth.url, "team/app", d, body)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == d
    assert requests.get(f"{berth.url}/v2/team/app/manifests/{d}").content == body


def test_unknown_blob_is_refused(berth):
    config = push_blob(berth.url, "team/app", b"{}")
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(b"x"),
                                   "size": 1}]}).encode()
    err = oci_error(put_manifest(berth.url, "team/app", "v1", body), "MANIFEST_BLOB_UNKNOWN", 400)
    assert err["detail"]["digest"] == digest(b"x")
    # A blob of another repository does not count.
    other = push_blob(berth.url, "team/other", b"x")
    oci_error(put_manifest(berth.url, "team/app", "v1", body), "MANIFEST_BLOB_UNKNOWN", 400)
    assert other == digest(b"x")


def test_foreign_layers_need_no_blob(berth):
    config = push_blob(berth.url, "team/win", b"{}")
    body = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config,
                                  "size": 2},
                       "layers": [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                                   "digest": digest(b"foreign"), "size": 7,
                                   "urls": ["https://example.invalid/layer"]}]}).encode()
    assert put_manifest(berth.url, "team/win", "v1", body, DOCKER_MANIFEST).status_code == 201


def test_foreign_layer_url_policy(start_berth):
    b = start_berth({"validation": {"manifests": {"urls": {"allow": ["^https://allowed\\.example/"]}}}})
    config = push_blob(b.url, "team/win", b"{}")

    def manifest(url):
        return json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                      "digest": config, "size": 2},
                           "layers": [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                                       "digest": digest(b"f"), "size": 1, "urls": [url]}]}).encode()

    assert put_manifest(b.url, "team/win", "ok", manifest("https://allowed.example/l"), DOCKER_MANIFEST).status_code == 201
    oci_error(put_manifest(b.url, "team/win", "no", manifest("https://evil.example/l"), DOCKER_MANIFEST),
              "MANIFEST_INVALID", 400)


def test_invalid_manifests(berth):
    base = f"{berth.url}/v2/team/app/manifests/v1"
    oci_error(requests.put(base, data=b"not json", headers={"Content-Type": OCI_MANIFEST}), "MANIFEST_INVALID", 400)
    oci_error(requests.put(base, data=b"[1,2]", headers={"Content-Type": OCI_MANIFEST}), "MANIFEST_INVALID", 400)
    schema1 = json.dumps({"schemaVersion": 1, "name": "team/app", "tag": "v1", "fsLayers": []}).encode()
    err = oci_error(requests.put(base, data=schema1,
                                 headers={"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}),
                    "MANIFEST_INVALID", 400)
    assert "schema1" in err["message"]
    body = image(berth.url, "team/app")
    err = oci_error(requests.put(base, data=body, headers={"Content-Type": DOCKER_MANIFEST}), "MANIFEST_INVALID", 400)
    assert "does not match" in err["message"]
    no_config = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
    oci_error(requests.put(base, data=no_config, headers={"Content-Type": OCI_MANIFEST}), "MANIFEST_INVALID", 400)


def test_too_large_manifest(berth):
    big = b'{"schemaVersion":2,"pad":"' + b"x" * (4 * 1024 * 1024) + b'"}'
    r = requests.put(f"{berth.url}/v2/team/app/manifests/v1", data=big, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 413
    assert requests.get(f"{berth.url}/v2/").status_code == 200


def test_unknown_manifest(berth):
    err = oci_error(requests.get(f"{berth.url}/v2/team/app/manifests/nope"), "MANIFEST_UNKNOWN", 404)
    assert err["detail"]["Tag"] == "nope"
    oci_error(requests.get(f"{berth.url}/v2/team/app/manifests/{digest(b'x')}"), "MANIFEST_UNKNOWN", 404)
    assert requests.head(f"{berth.url}/v2/team/app/manifests/nope").status_code == 404
    oci_error(requests.get(f"{berth.url}/v2/team/app/manifests/sha256:zz"), "DIGEST_INVALID", 400)
    # What cannot be a tag names no manifest (the conformance suite asks for .INVALID_MANIFEST_NAME).
    oci_error(requests.get(f"{berth.url}/v2/team/app/manifests/.INVALID_MANIFEST_NAME"), "MANIFEST_UNKNOWN", 404)
    assert requests.head(f"{berth.url}/v2/team/app/manifests/-bad").status_code == 404
    oci_error(requests.delete(f"{berth.url}/v2/team/app/manifests/-bad"), "MANIFEST_UNKNOWN", 404)
    oci_error(put_manifest(berth.url, "team/app", "-bad", image(berth.url, "team/app")), "TAG_INVALID", 400)
    # The conformance suite's malformed digest reference: an OCI error body with a 400.
    oci_error(put_manifest(berth.url, "team/app", "sha256:totallywrong", b"blablabla"), "DIGEST_INVALID", 400)


def test_delete_by_digest_removes_tags(berth):
    body = image(berth.url, "team/app")
    put_manifest(berth.url, "team/app", "v1", body)
    put_manifest(berth.url, "team/app", "v2", body)
    d = digest(body)
    assert requests.delete(f"{berth.url}/v2/team/app/manifests/{d}").status_code == 202
    oci_error(requests.get(f"{berth.url}/v2/team/app/manifests/{d}"), "MANIFEST_UNKNOWN", 404)
    assert requests.get(f"{berth.url}/v2/team/app/manifests/v1").status_code == 404
    assert requests.get(f"{berth.url}/v2/team/app/tags/list").json()["tags"] == []
    oci_error(requests.delete(f"{berth.url}/v2/team/app/manifests/{d}"), "MANIFEST_UNKNOWN", 404)


def test_delete_by_tag_keeps_manifest(berth):
    body = image(berth.url, "team/app")
    put_manifest(berth.url, "team/app", "v1", body)
    assert requests.delete(f"{berth.url}/v2/team/app/manifests/v1").status_code == 202
    assert requests.get(f"{berth.url}/v2/team/app/manifests/v1").status_code == 404
    assert requests.get(f"{berth.url}/v2/team/app/manifests/{digest(body)}").status_code == 200


def test_delete_disabled(start_berth):
    b = start_berth({"storage": {"delete": {"enabled": False}}})
    body = image(b.url, "team/app")
    put_manifest(b.url, "team/app", "v1", body)
    oci_error(requests.delete(f"{b.url}/v2/team/app/manifests/v1"), "UNSUPPORTED", 405)
    oci_error(requests.delete(f"{b.url}/v2/team/app/manifests/{digest(body)}"), "UNSUPPORTED", 405)


def test_retag_moves_tag(berth):
    one = image(berth.url, "team/app", layers=(b"1",))
    two = image(berth.url, "team/app", layers=(b"2",))
    put_manifest(berth.url, "team/app", "latest", one)
    put_manifest(berth.url, "team/app", "latest", two)
    assert requests.get(f"{berth.url}/v2/team/app/manifests/latest").content == two
    if STORAGE == "filesystem":
        index = os.path.join(berth.data, V2, "repositories/team/app/_manifests/tags/latest/index/sha256")
        assert sorted(os.listdir(index)) == sorted([digest(one)[7:], digest(two)[7:]])


def test_manifest_without_media_type_field(berth):
    config = push_blob(berth.url, "team/app", b"{}")
    body = json.dumps({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                                       "digest": config, "size": 2}, "layers": []}).encode()
    assert put_manifest(berth.url, "team/app", "bare", body, OCI_MANIFEST).status_code == 201
    assert requests.get(f"{berth.url}/v2/team/app/manifests/bare").headers["Content-Type"] == OCI_MANIFEST
