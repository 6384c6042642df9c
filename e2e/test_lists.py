"""Content discovery: tags, catalog, referrers."""
import json
import requests

from conftest import OCI_INDEX, OCI_MANIFEST, digest, image, oci_error, push_blob, put_manifest


def tagged(berth, name, tags):
    body = image(berth.url, name)
    for t in tags:
        assert put_manifest(berth.url, name, t, body).status_code == 201
    return body


def test_tags_sorted_and_paginated(berth):
    tags = ["v10", "v2", "latest", "a", "Z", "v1"]
    tagged(berth, "team/app", tags)
    r = requests.get(f"{berth.url}/v2/team/app/tags/list")
    assert r.status_code == 200
    assert r.json() == {"name": "team/app", "tags": sorted(tags)}
    assert "Link" not in r.headers
    r = requests.get(f"{berth.url}/v2/team/app/tags/list", params={"n": 2})
    assert r.json()["tags"] == sorted(tags)[:2]
    link = r.headers["Link"]
    assert link == f'</v2/team/app/tags/list?last={sorted(tags)[1]}&n=2>; rel="next"'
    r = requests.get(f"{berth.url}/v2/team/app/tags/list", params={"n": 2, "last": sorted(tags)[1]})
    assert r.json()["tags"] == sorted(tags)[2:4]
    r = requests.get(f"{berth.url}/v2/team/app/tags/list", params={"last": "v1"})
    assert r.json()["tags"] == ["v10", "v2"]
    r = requests.get(f"{berth.url}/v2/team/app/tags/list", params={"n": 6})
    assert r.json()["tags"] == sorted(tags) and "Link" not in r.headers
    r = requests.get(f"{berth.url}/v2/team/app/tags/list", params={"n": 0})
    assert r.status_code == 200 and r.json()["tags"] == []
    r = requests.get(f"{berth.url}/v2/team/app/tags/list", params={"n": str(2**63 - 1)})
    assert r.status_code == 200 and r.json()["tags"] == sorted(tags)
    r = requests.get(f"{berth.url}/v2/team/app/tags/list", params={"n": str(2**64)})
    assert r.status_code == 400


def test_tags_errors(berth):
    err = oci_error(requests.get(f"{berth.url}/v2/no/such/tags/list"), "NAME_UNKNOWN", 404)
    assert err["detail"]["name"] == "no/such"
    tagged(berth, "team/app", ["v1"])
    oci_error(requests.get(f"{berth.url}/v2/team/app/tags/list", params={"n": "-1"}), "PAGINATION_NUMBER_INVALID", 400)
    oci_error(requests.get(f"{berth.url}/v2/team/app/tags/list", params={"n": "x"}), "PAGINATION_NUMBER_INVALID", 400)


def test_catalog(start_berth):
    b = start_berth({"catalog": {"maxentries": 3}})
    names = ["z/last", "a/first", "m/middle/deep", "b"]
    for n in names:
        push_blob(b.url, n, b"x")
    r = requests.get(f"{b.url}/v2/_catalog", params={"n": 3})
    assert r.json()["repositories"] == sorted(names)[:3]
    assert r.headers["Link"] == f'</v2/_catalog?last={sorted(names)[2]}&n=3>; rel="next"'
    r = requests.get(f"{b.url}/v2/_catalog", params={"last": sorted(names)[2]})
    assert r.json()["repositories"] == sorted(names)[3:]
    oci_error(requests.get(f"{b.url}/v2/_catalog", params={"n": 4}), "PAGINATION_NUMBER_INVALID", 400)
    r = requests.get(f"{b.url}/v2/_catalog")  # default page is maxentries
    assert len(r.json()["repositories"]) == 3 and "Link" in r.headers


def referrer(berth, name, subject_body, artifact_type, annotation):
    empty = push_blob(berth.url, name, b"{}")
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                       "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
                       "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}],
                       "subject": {"mediaType": OCI_MANIFEST, "digest": digest(subject_body),
                                   "size": len(subject_body)},
                       "annotations": {"note": annotation}}).encode()
    r = put_manifest(berth.url, name, digest(body), body)
    assert r.status_code == 201, r.text
    assert r.headers["OCI-Subject"] == digest(subject_body)
    return body


def test_referrers(berth):
    subject = image(berth.url, "team/app")
    put_manifest(berth.url, "team/app", "v1", subject)
    sig = referrer(berth, "team/app", subject, "application/vnd.example.signature", "signed")
    sbom = referrer(berth, "team/app", subject, "application/vnd.example.sbom", "sbom")
    r = requests.get(f"{berth.url}/v2/team/app/referrers/{digest(subject)}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OCI_INDEX
    index = r.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    by_digest = {m["digest"]: m for m in index["manifests"]}
    assert set(by_digest) == {digest(sig), digest(sbom)}
    assert by_digest[digest(sig)]["artifactType"] == "application/vnd.example.signature"
    assert by_digest[digest(sig)]["annotations"] == {"note": "signed"}
    assert by_digest[digest(sig)]["size"] == len(sig)
    assert by_digest[digest(sig)]["mediaType"] == OCI_MANIFEST

    r = requests.get(f"{berth.url}/v2/team/app/referrers/{digest(subject)}",
                     params={"artifactType": "application/vnd.example.sbom"})
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in r.json()["manifests"]] == [digest(sbom)]

    requests.delete(f"{berth.url}/v2/team/app/manifests/{digest(sig)}")
    r = requests.get(f"{berth.url}/v2/team/app/referrers/{digest(subject)}")
    assert [m["digest"] for m in r.json()["manifests"]] == [digest(sbom)]


def test_referrers_of_unknown_subject_is_empty(berth):
    r = requests.get(f"{berth.url}/v2/team/app/referrers/{digest(b'nothing')}")
    assert r.status_code == 200
    assert r.json()["manifests"] == []
    oci_error(requests.get(f"{berth.url}/v2/team/app/referrers/sha256:short"), "DIGEST_INVALID", 400)


def test_subject_may_be_pushed_after_referrer(berth):
    subject = image(berth.url, "team/app", layers=(b"later",))
    referrer(berth, "team/app", subject, "application/vnd.example.sig", "early")
    put_manifest(berth.url, "team/app", "v1", subject)
    r = requests.get(f"{berth.url}/v2/team/app/referrers/{digest(subject)}")
    assert len(r.json()["manifests"]) == 1
