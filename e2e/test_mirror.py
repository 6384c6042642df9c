"""The pull-through mirror, against real upstreams: registry:2 with htpasswd (Basic auth),
Docker's registry-mirrors, concurrent cold pulls, and upstream faults."""
import concurrent.futures
import hashlib
import http.server
import json
import os
import re
import subprocess
import threading

import pytest
import requests

from conftest import DOCKER_MANIFEST, OCI_MANIFEST, digest, image, oci_error, push_blob, put_manifest
from peers import Dockerd, Registry2, dockerd_with_image, wait_for

USER, PASSWORD = "mirror", "s3cret-pass"


@pytest.fixture
def upstream(tmp_path):
    r2 = make_upstream(tmp_path)
    yield r2
    r2.stop()


def make_upstream(tmp_path):
    """registry:2 behind htpasswd, logging every request, with team/app:v1 of three layers."""
    d = tmp_path / "upstream"
    d.mkdir()
    htpasswd = d / "htpasswd"
    line = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], capture_output=True, text=True, check=True)
    htpasswd.write_text(line.stdout)
    r2 = Registry2(str(d), str(d / "data"), htpasswd=str(htpasswd))
    r2.auth = (USER, PASSWORD)
    r2.layers = [os.urandom(200_000 + i) for i in range(3)]
    with requests.Session() as s:
        s.auth = r2.auth
        r2.manifest = image_with(s, r2.url, "team/app", r2.layers)
        assert s.put(f"{r2.url}/v2/team/app/manifests/v1", data=r2.manifest,
                     headers={"Content-Type": OCI_MANIFEST}).status_code == 201
    return r2


def image_with(session, url, name, layers):
    config = b'{"architecture":"amd64","os":"linux"}'
    descs = []
    for blob in [config] + layers:
        r = session.post(f"{url}/v2/{name}/blobs/uploads/")
        assert r.status_code == 202, r.text
        loc = r.headers["Location"]
        loc = loc if loc.startswith("http") else url + loc
        assert session.put(loc, params={"digest": digest(blob)}, data=blob).status_code == 201
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(blob),
                      "size": len(blob)})
    descs[0]["mediaType"] = "application/vnd.oci.image.config.v1+json"
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descs[0],
                       "layers": descs[1:]}).encode()


def upstream_requests(r2, method, path_part):
    """Requests registry:2 logged (its access log, one combined-format line each)."""
    return [l for l in r2.process.logs().splitlines() if f'"{method} ' in l and path_part in l]


def mirror_config(upstream, **extra):
    entry = {"url": upstream.url, "prefixes": ["up.test"], "username": USER, "password": PASSWORD}
    entry.update(extra)
    return {"mirror": {"upstreams": {"up": entry}}}


def test_prefixed_pull_through_with_basic_auth(start_berth, upstream):
    b = start_berth(mirror_config(upstream))
    r = requests.get(f"{b.url}/v2/up.test/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, r.text
    assert r.content == upstream.manifest
    assert r.headers["Docker-Content-Digest"] == digest(upstream.manifest)
    for layer in upstream.layers:
        r = requests.get(f"{b.url}/v2/up.test/team/app/blobs/{digest(layer)}")
        assert r.status_code == 200 and r.content == layer
    # Second time from the cache: no new blob GET upstream.
    before = len(upstream_requests(upstream, "GET", "/blobs/"))
    for layer in upstream.layers:
        assert requests.get(f"{b.url}/v2/up.test/team/app/blobs/{digest(layer)}").content == layer
    assert len(upstream_requests(upstream, "GET", "/blobs/")) == before
    # By digest, the cached manifest is served without asking upstream.
    before = len(upstream_requests(upstream, "", "/manifests/"))
    r = requests.get(f"{b.url}/v2/up.test/team/app/manifests/{digest(upstream.manifest)}")
    assert r.content == upstream.manifest
    assert len(upstream_requests(upstream, "", "/manifests/")) == before
    # Credentials never reach the log.
    assert PASSWORD not in b.logs()


def test_mirrored_repositories_are_read_only_and_local_ones_pushable(start_berth, upstream):
    b = start_berth(mirror_config(upstream))
    r = requests.post(f"{b.url}/v2/up.test/team/app/blobs/uploads/")
    err = oci_error(r, "DENIED", 403)
    assert "mirrored from upstream up" in err["message"]
    r = requests.delete(f"{b.url}/v2/up.test/team/app/manifests/v1")
    oci_error(r, "DENIED", 403)
    # A local push beside the mirror, in the same instance.
    manifest = image(b.url, "team/local")
    assert put_manifest(b.url, "team/local", "v1", manifest).status_code == 201
    assert requests.get(f"{b.url}/v2/team/local/manifests/v1").content == manifest
    assert not upstream_requests(upstream, "GET", "team/local")


def test_never_an_open_proxy(start_berth, upstream):
    b = start_berth(mirror_config(upstream))
    before = len(upstream.process.logs().splitlines())
    # An ns or a prefix that names no configured upstream is local: nothing is contacted.
    r = requests.get(f"{b.url}/v2/team/app/manifests/v1", params={"ns": "evil.example"})
    oci_error(r, "MANIFEST_UNKNOWN", 404)
    r = requests.get(f"{b.url}/v2/evil.example/team/app/manifests/v1")
    oci_error(r, "MANIFEST_UNKNOWN", 404)
    assert len(upstream.process.logs().splitlines()) == before


def test_ns_routes_to_the_upstream_host(start_berth, upstream):
    b = start_berth(mirror_config(upstream))
    host = upstream.url.split("//")[1]
    r = requests.get(f"{b.url}/v2/team/app/manifests/v1", params={"ns": host}, headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200 and r.content == upstream.manifest
    # The prefix route shares the cache: this blob is fetched once for both.
    layer = upstream.layers[0]
    assert requests.get(f"{b.url}/v2/team/app/blobs/{digest(layer)}", params={"ns": "up.test"}).content == layer
    assert requests.get(f"{b.url}/v2/up.test/team/app/blobs/{digest(layer)}").content == layer
    assert len(upstream_requests(upstream, "GET", f"/blobs/{digest(layer)}")) == 1


def test_allow_and_deny_refuse_without_asking_upstream(start_berth, upstream):
    b = start_berth(mirror_config(upstream, allow=["team/*"], deny=["team/secret*"]))
    before = len(upstream.process.logs().splitlines())
    for name in ["up.test/other/app", "up.test/team/secret-app", "up.test/team/a/b"]:
        r = requests.get(f"{b.url}/v2/{name}/manifests/v1")
        oci_error(r, "DENIED", 403)
        r = requests.get(f"{b.url}/v2/{name}/blobs/{digest(upstream.layers[0])}")
        assert r.status_code == 403
    assert len(upstream.process.logs().splitlines()) == before
    assert requests.get(f"{b.url}/v2/up.test/team/app/manifests/v1").status_code == 200


def test_blob_head_asks_upstream_with_head(start_berth, upstream):
    b = start_berth(mirror_config(upstream))
    layer = upstream.layers[1]
    r = requests.head(f"{b.url}/v2/up.test/team/app/blobs/{digest(layer)}")
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(layer)
    assert upstream_requests(upstream, "HEAD", f"/blobs/{digest(layer)}")
    assert not upstream_requests(upstream, "GET", f"/blobs/{digest(layer)}")
    r = requests.get(f"{b.url}/v2/up.test/team/app/blobs/{digest(layer)}", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == layer[100:200]
    r = requests.head(f"{b.url}/v2/up.test/team/app/blobs/{digest(b'missing')}")
    assert r.status_code == 404


def test_fifty_concurrent_cold_pulls_fetch_each_blob_once(start_berth, upstream):
    b = start_berth(mirror_config(upstream))
    name = "up.test/team/app"

    def pull(_):
        s = requests.Session()
        m = s.get(f"{b.url}/v2/{name}/manifests/{digest(upstream.manifest)}")
        assert m.status_code == 200, m.text
        out = [m.content]
        for desc in [json.loads(m.content)["config"]] + json.loads(m.content)["layers"]:
            r = s.get(f"{b.url}/v2/{name}/blobs/{desc['digest']}")
            assert r.status_code == 200, r.text
            assert digest(r.content) == desc["digest"]
            out.append(r.content)
        return out

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(pull, range(50)))
    assert all(r == results[0] for r in results)
    for desc in [json.loads(upstream.manifest)["config"]] + json.loads(upstream.manifest)["layers"]:
        assert len(upstream_requests(upstream, "GET", f"/blobs/{desc['digest']}")) == 1, desc
    # One GET answered with the manifest (the first request may be refused with 401 before
    # Berth learns that the upstream wants Basic credentials).
    fetched = [l for l in upstream_requests(upstream, "GET", f"/manifests/{digest(upstream.manifest)}")
               if '" 200 ' in l]
    assert len(fetched) == 1, fetched


def test_upstream_down_serves_the_cache(start_berth, upstream):
    b = start_berth(mirror_config(upstream))
    name = "up.test/team/app"
    assert requests.get(f"{b.url}/v2/{name}/manifests/v1").status_code == 200
    layer = upstream.layers[2]
    assert requests.get(f"{b.url}/v2/{name}/blobs/{digest(layer)}").content == layer
    upstream.stop()
    r = requests.get(f"{b.url}/v2/{name}/manifests/v1")
    assert r.status_code == 200 and r.content == upstream.manifest
    assert requests.get(f"{b.url}/v2/{name}/blobs/{digest(layer)}").content == layer
    assert requests.get(f"{b.url}/v2/{name}/tags/list").json()["tags"] == ["v1"]
    # What was never cached cannot be served: an OCI error, not a hang or a 500.
    r = requests.get(f"{b.url}/v2/{name}/manifests/v2")
    oci_error(r, "UNAVAILABLE", 502)
    r = requests.get(f"{b.url}/v2/{name}/blobs/{digest(upstream.layers[0])}")
    oci_error(r, "UNAVAILABLE", 502)


class WrongBytesUpstream(http.server.BaseHTTPRequestHandler):
    """Announces a blob and sends other bytes of the same length."""
    blob = b"the real layer bytes"

    def do_GET(self):
        if self.path == "/v2/":
            self.send_response(200)
            self.end_headers()
            return
        body = bytes(len(self.blob))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


def test_corrupt_upstream_bytes_are_never_cached(start_berth):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WrongBytesUpstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        b = start_berth({"mirror": {"upstreams": {"bad": {"url": url, "prefixes": ["bad.test"]}}}})
        d = digest(WrongBytesUpstream.blob)
        for _ in range(2):
            try:
                r = requests.get(f"{b.url}/v2/bad.test/team/app/blobs/{d}")
                assert r.content != WrongBytesUpstream.blob
            except requests.exceptions.ChunkedEncodingError:
                pass  # the response is cut when the bytes fail verification
        blobs = os.path.join(b.data, "docker/registry/v2/blobs")
        assert not os.path.exists(blobs) or not any(files for _, _, files in os.walk(blobs))
        staging = os.path.join(b.data, "docker/registry/v2/_berth/mirror-staging")
        # The client's response is cut as the digest fails; the staged bytes go just after.
        wait_for(lambda: not os.path.exists(staging) or not os.listdir(staging), timeout=10, what="staging emptied")
        assert "do not hash to" in b.logs()
    finally:
        server.shutdown()


def test_docker_registry_mirror_pulls_through_and_survives_the_upstream(start_berth, upstream, tmp_path):
    """Docker's registry-mirrors: `docker pull team/app:v1` arrives through Berth's default
    upstream, and pulls again from the cache once the upstream is gone."""
    # A real image in the upstream: pushed by docker itself so that the engine can run the pull.
    pusher = dockerd_with_image(str(tmp_path), "team/tool:v1", {"hello.txt": b"through the mirror\n"})
    try:
        up = upstream.url.split("//")[1]
        pusher.docker("login", "-u", USER, "--password-stdin", up, input=PASSWORD.encode())
        pusher.docker("tag", "team/tool:v1", f"{up}/team/tool:v1")
        pusher.docker("push", f"{up}/team/tool:v1")
    finally:
        pusher.stop()
    b = start_berth({"mirror": {"upstreams": {"hub": {
        "url": upstream.url, "default": True, "username": USER, "password": PASSWORD}}}})
    (tmp_path / "m").mkdir()
    client = Dockerd(str(tmp_path / "m"), mirror=b.url)
    try:
        client.docker("pull", "team/tool:v1")
        assert "HEAD /v2/team/tool/manifests/v1" in b.logs()
        upstream.stop()
        client.docker("rmi", "team/tool:v1")
        client.docker("pull", "team/tool:v1")
        out = client.docker("image", "inspect", "team/tool:v1").stdout
        assert b"team/tool:v1" in out
    finally:
        client.stop()


class TokenServer:
    """A Docker token server: RS256 JWTs with an x5c header, which registry:2's `auth: token`
    validates against the certificate. Gives pull access to USER, and to nobody else."""

    def __init__(self, tmp):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.x509.oid import NameOID
        import base64
        import datetime
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token issuer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                .serial_number(1).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1)).sign(self.key, hashes.SHA256()))
        self.cert_path = os.path.join(tmp, "issuer.pem")
        with open(self.cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.requests = []
        server_self = self

        def b64(data):
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                from urllib.parse import parse_qs, urlparse
                query = parse_qs(urlparse(self.path).query)
                auth = self.headers.get("Authorization", "")
                server_self.requests.append((query, auth))
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                access = []
                if auth == expected:
                    for scope in query.get("scope", []):
                        kind, repo, actions = scope.split(":")
                        access.append({"type": kind, "name": repo, "actions": ["pull"]})
                t = int(__import__("time").time())
                header = {"alg": "RS256", "typ": "JWT", "x5c": [der]}
                claims = {"iss": "test-issuer", "sub": USER, "aud": query.get("service", [""])[0],
                          "exp": t + 300, "nbf": t - 10, "iat": t, "jti": str(t), "access": access}
                signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
                signature = server_self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
                body = json.dumps({"token": signing + "." + b64(signature), "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def test_bearer_token_upstream(start_berth, tmp_path):
    """The Docker token flow against registry:2 with auth: token: Berth answers the Bearer
    challenge at the realm with its credentials, caches the token, and pulls through."""
    from peers import Process, free_port, port_open, wait_for
    tokens = TokenServer(str(tmp_path))
    port = free_port()
    config = tmp_path / "r2.yml"
    config.write_text(f"""version: 0.1
storage:
  filesystem:
    rootdirectory: {tmp_path / 'r2data'}
http:
  addr: 127.0.0.1:{port}
auth:
  token:
    realm: {tokens.url}
    service: test-registry
    issuer: test-issuer
    rootcertbundle: {tokens.cert_path}
""")
    # Content goes in through a second registry:2 on the same directory, without auth.
    seed = Registry2(str(tmp_path), str(tmp_path / "r2data"))
    layers = [os.urandom(50_000)]
    with requests.Session() as s:
        manifest = image_with(s, seed.url, "team/app", layers)
        assert s.put(f"{seed.url}/v2/team/app/manifests/v1", data=manifest,
                     headers={"Content-Type": OCI_MANIFEST}).status_code == 201
    seed.stop()
    r2 = Process(["docker-registry", "serve", str(config)], str(tmp_path / "r2-token.log"))
    try:
        wait_for(lambda: port_open(port), what="registry:2 with token auth")
        url = f"http://127.0.0.1:{port}"
        assert requests.get(f"{url}/v2/team/app/manifests/v1").status_code == 401
        b = start_berth({"mirror": {"upstreams": {"tok": {
            "url": url, "prefixes": ["tok.test"], "username": USER, "password": PASSWORD}}}})
        r = requests.get(f"{b.url}/v2/tok.test/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200 and r.content == manifest, r.text
        assert requests.get(f"{b.url}/v2/tok.test/team/app/blobs/{digest(layers[0])}").content == layers[0]
        scopes = [q.get("scope") for q, _ in tokens.requests]
        assert ["repository:team/app:pull"] in scopes
        assert all(a.startswith("Basic ") for _, a in tokens.requests)
        # The token is cached: one token request for the manifest and the blob of one repository.
        assert len(tokens.requests) == 1, tokens.requests
        assert PASSWORD not in b.logs()
    finally:
        r2.stop()
        tokens.stop()


def test_referrers_of_a_mirrored_manifest_come_from_the_upstream_tag_fallback(start_berth, upstream):
    """registry:2 2.8 has no referrers API; the OCI fallback keeps referrers in an index tagged
    sha256-<hex>, which Berth reads upstream, filters, and caches for when the upstream is down."""
    subject = digest(upstream.manifest)
    descriptors = []
    with requests.Session() as s:
        s.auth = upstream.auth
        for kind in ["application/spdx+json", "application/vnd.dev.cosign.artifact.sig.v1+json"]:
            artifact = image_with(s, upstream.url, "team/app", [kind.encode()])
            assert s.put(f"{upstream.url}/v2/team/app/manifests/{digest(artifact)}", data=artifact,
                         headers={"Content-Type": OCI_MANIFEST}).status_code == 201
            descriptors.append({"mediaType": OCI_MANIFEST, "digest": digest(artifact), "size": len(artifact),
                                "artifactType": kind})
        sbom, sig = descriptors
        index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": descriptors}).encode()
        r = s.put(f"{upstream.url}/v2/team/app/manifests/sha256-{subject.split(':')[1]}", data=index,
                  headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
        assert r.status_code == 201, r.text
    b = start_berth(mirror_config(upstream))
    url = f"{b.url}/v2/up.test/team/app/referrers/{subject}"
    r = requests.get(url)
    assert r.status_code == 200, r.text
    assert [m["digest"] for m in r.json()["manifests"]] == [sbom["digest"], sig["digest"]]
    r = requests.get(url, params={"artifactType": "application/spdx+json"})
    assert [m["digest"] for m in r.json()["manifests"]] == [sbom["digest"]]
    assert upstream_requests(upstream, "GET", f"/manifests/sha256-{subject.split(':')[1]}")
    upstream.stop()
    r = requests.get(url)
    assert r.status_code == 200 and len(r.json()["manifests"]) == 2


def test_a_local_push_and_a_mirrored_pull_at_the_same_time(start_berth, upstream):
    b = start_berth(mirror_config(upstream))

    def push(i):
        manifest = image(b.url, f"team/local{i}", layers=[os.urandom(300_000)])
        assert put_manifest(b.url, f"team/local{i}", "v1", manifest).status_code == 201
        return manifest

    def pull(_):
        m = requests.get(f"{b.url}/v2/up.test/team/app/manifests/v1")
        assert m.status_code == 200
        return [requests.get(f"{b.url}/v2/up.test/team/app/blobs/{d['digest']}").content
                for d in json.loads(m.content)["layers"]]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        pushes = [pool.submit(push, i) for i in range(4)]
        pulls = [pool.submit(pull, i) for i in range(4)]
        manifests = [f.result() for f in pushes]
        assert all(f.result() == upstream.layers for f in pulls)
    for i, manifest in enumerate(manifests):
        assert requests.get(f"{b.url}/v2/team/local{i}/manifests/v1").content == manifest
    names = requests.get(f"{b.url}/v2/_catalog").json()["repositories"]
    assert names == [f"team/local{i}" for i in range(4)] + ["up.test/team/app"]


def test_chained_mirrors_two_hops_and_a_prefixed_skopeo_pull(start_berth, upstream, tmp_path):
    """Berth in front of Berth in front of registry:2: blob HEAD, manifests and blobs cross both
    hops, each fetched from the real upstream once, and skopeo pulls by the prefixed name."""
    first = start_berth(mirror_config(upstream))
    second = start_berth({"mirror": {"upstreams": {"first": {"url": first.url, "prefixes": ["chain.test"]}}}})
    name = "chain.test/up.test/team/app"
    layer = upstream.layers[0]
    r = requests.head(f"{second.url}/v2/{name}/blobs/{digest(layer)}")
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(layer)
    assert not upstream_requests(upstream, "GET", "/blobs/")  # a HEAD is answered with HEADs
    out = tmp_path / "pulled"
    r = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://127.0.0.1:{second.port}/{name}:v1",
                        f"dir:{out}"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (out / "manifest.json").read_bytes() == upstream.manifest
    for blob in upstream.layers:
        assert (out / digest(blob).split(":")[1]).read_bytes() == blob
    for blob in upstream.layers:
        assert len(upstream_requests(upstream, "GET", f"/blobs/{digest(blob)}")) == 1
    assert "/v2/up.test/team/app/manifests/v1" in first.logs()


def test_containerd_pulls_two_upstream_hosts_through_one_berth(start_berth, tmp_path):
    """containerd's hosts.toml names Berth as the mirror of two registries; every request
    carries ?ns=<host>, and Berth routes each to its own upstream."""
    from peers import Containerd
    from test_clients import archive, skopeo
    registries = []
    try:
        for i in range(2):
            (tmp_path / f"r{i}").mkdir()
            r2 = Registry2(str(tmp_path / f"r{i}"), str(tmp_path / f"r{i}" / "data"))
            registries.append(r2)
            (tmp_path / f"img{i}").mkdir()
            skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive(tmp_path / f'img{i}')}",
                   f"docker://127.0.0.1:{r2.port}/team/app{i}:v1")
        b = start_berth({"mirror": {"upstreams": {
            f"r{i}": {"url": r2.url, "prefixes": [f"r{i}.test"]} for i, r2 in enumerate(registries)}}})
        for r2 in registries:
            hosts = tmp_path / "hosts" / f"127.0.0.1:{r2.port}"
            hosts.mkdir(parents=True)
            (hosts / "hosts.toml").write_text(
                f'server = "{r2.url}"\n[host."{b.url}"]\n  capabilities = ["pull", "resolve"]\n')
        (tmp_path / "containerd").mkdir()
        c = Containerd(str(tmp_path / "containerd"))
        try:
            for i, r2 in enumerate(registries):
                ref = f"127.0.0.1:{r2.port}/team/app{i}:v1"
                c.ctr("images", "pull", "--hosts-dir", str(tmp_path / "hosts"), "--plain-http", ref)
                assert ref in c.ctr("images", "ls", "-q").stdout
        finally:
            c.stop()
        for i, r2 in enumerate(registries):
            assert f"/v2/team/app{i}/manifests/v1?ns=127.0.0.1%3A{r2.port}" in b.logs()
            # Each registry was asked by Berth, for its own image only.
            mine = [l for l in r2.process.logs().splitlines() if "berth-mirror" in l]
            assert mine and all(f"team/app{i}" in l for l in mine if "/v2/team" in l)
    finally:
        for r2 in registries:
            r2.stop()
