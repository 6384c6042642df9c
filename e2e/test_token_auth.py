"""auth.token with Berth's own token server: the challenge and token flow, docker_auth-style
rules, docker/skopeo/containerd with credentials, a registry:2 that trusts Berth's tokens, and
tokens of outside issuers (docker_auth-style libtrust kid, RFC 7638 kid, jwks, x5c chains)."""
import os
import subprocess

import jwt
import pytest
import requests

from conftest import deep_merge, oci_error
from peers import Registry2, dockerd_with_image
from test_auth import docker_login_push_pull_logout, htpasswd_line
import tokens
from tokens import SERVICE, ISSUER

PASSWORDS = {"admin": "admin-pass-1", "reader": "reader-pass-2", "alice": "alice-pass-3"}
ACL = [
    {"match": {"account": "admin"}, "actions": ["*"], "comment": "the admin may do everything"},
    {"match": {"account": "reader"}, "actions": ["pull"]},
    {"match": {"account": "/.+/", "name": "${account}/*"}, "actions": ["*"]},
    {"match": {"account": "", "name": "library/*"}, "actions": ["pull"]},
]


def users():
    return {u: htpasswd_line(u, p).strip().split(":", 1)[1] for u, p in PASSWORDS.items()}


@pytest.fixture
def issuing(start_berth, tmp_path):
    config, key, cert = tokens.issuing_config(str(tmp_path), acl=ACL, users=users())
    b = start_berth(config)
    b.cert = cert
    return b


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_challenges_name_realm_service_and_scope(issuing):
    realm = f"http://127.0.0.1:{issuing.port}/auth/token"
    r = requests.get(issuing.url + "/v2/")
    oci_error(r, "UNAUTHORIZED", 401)
    assert r.headers["WWW-Authenticate"] == f'Bearer realm="{realm}",service="{SERVICE}"'
    r = requests.post(issuing.url + "/v2/team/app/blobs/uploads/")
    assert r.headers["WWW-Authenticate"] == \
        f'Bearer realm="{realm}",service="{SERVICE}",scope="repository:team/app:pull,push"'
    r = requests.get(issuing.url + "/v2/_catalog")
    assert r.headers["WWW-Authenticate"].endswith(',scope="registry:catalog:*"')
    # A pull-only token used to push: insufficient_scope.
    t = tokens.token_for(issuing.url, ["repository:library/x:pull"])["token"]
    r = requests.post(issuing.url + "/v2/library/x/blobs/uploads/", headers=bearer(t))
    oci_error(r, "UNAUTHORIZED", 401)
    assert r.headers["WWW-Authenticate"].endswith(
        ',scope="repository:library/x:pull,push",error="insufficient_scope"')
    # A token that is no good: invalid_token.
    r = requests.get(issuing.url + "/v2/", headers=bearer("a.b.c"))
    assert r.headers["WWW-Authenticate"].endswith(',error="invalid_token"')


def test_tokens_grant_what_the_rules_allow(issuing):
    u = issuing.url
    answer = tokens.token_for(u, ["repository:alice/app:pull,push,delete", "repository:bob/app:pull"],
                              auth=("alice", PASSWORDS["alice"]))
    assert set(answer) >= {"token", "access_token", "expires_in", "issued_at"}
    assert answer["token"] == answer["access_token"] and answer["expires_in"] == 300
    assert tokens.granted(answer["token"]) == [{"type": "repository", "name": "alice/app",
                                                 "actions": ["pull", "push", "delete"]}]
    header = jwt.get_unverified_header(answer["token"])
    assert header["kid"] == tokens.libtrust_kid(tokens.load_cert(issuing.cert).public_key())
    assert header["x5c"] == tokens.x5c(issuing.cert)
    # The reader: pull anywhere, never push; anonymous: pull of library/* only.
    reader = tokens.token_for(u, ["repository:alice/app:pull,push"], auth=("reader", PASSWORDS["reader"]))
    assert tokens.granted(reader["token"]) == [{"type": "repository", "name": "alice/app", "actions": ["pull"]}]
    anonymous = tokens.token_for(u, ["repository:library/alpine:pull,push", "repository:alice/app:pull"])
    assert tokens.granted(anonymous["token"]) == [{"type": "repository", "name": "library/alpine",
                                                   "actions": ["pull"]}]
    assert "refresh_token" not in anonymous
    admin = tokens.token_for(u, ["registry:catalog:*"], auth=("admin", PASSWORDS["admin"]))
    assert requests.get(u + "/v2/_catalog", headers=bearer(admin["token"])).status_code == 200
    # Wrong password, unknown user, wrong service, bad scope.
    r = requests.get(u + "/auth/token", params={"service": SERVICE}, auth=("alice", "nope"))
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert requests.get(u + "/auth/token", params={"service": SERVICE}, auth=("mallory", "x")).status_code == 401
    assert requests.get(u + "/auth/token", params={"service": "other"}).status_code == 400
    assert requests.get(u + "/auth/token", params={"service": SERVICE, "scope": "nonsense"}).status_code == 400


def test_oauth2_password_and_refresh_grants(issuing):
    u = issuing.url
    r = requests.post(u + "/auth/token", data={
        "grant_type": "password", "username": "alice", "password": PASSWORDS["alice"], "service": SERVICE,
        "scope": "repository:alice/app:pull,push repository:library/x:pull", "access_type": "offline",
        "client_id": "test"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"name": "alice/app", "type": "repository", "actions": ["pull", "push"]} in tokens.granted(body["access_token"])
    refresh = body["refresh_token"]
    # A refresh token is no access token.
    assert requests.get(u + "/v2/", headers=bearer(refresh)).status_code == 401
    r = requests.post(u + "/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                               "service": SERVICE, "scope": "repository:alice/app:pull"})
    assert r.status_code == 200, r.text
    t = r.json()["access_token"]
    assert requests.get(u + "/v2/alice/app/tags/list", headers=bearer(t)).status_code == 404  # no such repo yet
    assert requests.post(u + "/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh + "x",
                                                  "service": SERVICE}).status_code == 401
    assert requests.post(u + "/auth/token", data={"grant_type": "password", "username": "alice",
                                                  "password": "wrong", "service": SERVICE}).status_code == 401
    assert requests.post(u + "/auth/token", data={"grant_type": "magic"}).status_code == 400
    logs = issuing.logs()
    assert all(p not in logs for p in PASSWORDS.values()) and refresh not in logs and t not in logs


def test_docker_login_push_pull_logout(issuing, tmp_path):
    docker_login_push_pull_logout(tmp_path, f"127.0.0.1:{issuing.port}", "alice/private", "alice", PASSWORDS["alice"])
    assert PASSWORDS["alice"] not in issuing.logs()


def test_skopeo_and_containerd_with_credentials(issuing, tmp_path):
    from peers import Containerd
    from test_clients import archive
    host = f"127.0.0.1:{issuing.port}"
    src = f"docker-archive:{archive(tmp_path)}"
    ref = f"docker://{host}/alice/tool:v1"
    assert subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", src, ref], capture_output=True).returncode != 0
    r = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", f"alice:{PASSWORDS['alice']}",
                        src, ref], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # The reader may pull but not push.
    r = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", f"reader:{PASSWORDS['reader']}",
                        src, f"docker://{host}/alice/tool:v2"], capture_output=True, text=True)
    assert r.returncode != 0
    (tmp_path / "containerd").mkdir()
    c = Containerd(str(tmp_path / "containerd"))
    try:
        assert c.ctr("images", "pull", "--plain-http", f"{host}/alice/tool:v1", check=False).returncode != 0
        c.ctr("images", "pull", "--plain-http", "--user", f"reader:{PASSWORDS['reader']}", f"{host}/alice/tool:v1")
        assert f"{host}/alice/tool:v1" in c.ctr("images", "ls", "-q").stdout
    finally:
        c.stop()


@pytest.mark.parametrize("kid,kind", [("libtrust", "rsa"), ("thumbprint", "ec")])
def test_registry2_accepts_berths_tokens(start_berth, tmp_path, kid, kind):
    config, key, cert = tokens.issuing_config(str(tmp_path), acl=ACL, users=users(), kid=kid, kind=kind)
    b = start_berth(config)
    realm = f"http://127.0.0.1:{b.port}/auth/token"
    data = tmp_path / "r2data"
    data.mkdir()
    r2 = Registry2(str(tmp_path), str(data), token={"realm": realm, "service": SERVICE, "issuer": ISSUER,
                                                   "rootcertbundle": cert})
    host = f"127.0.0.1:{r2.port}"
    d = None
    try:
        challenge = requests.get(r2.url + "/v2/").headers["WWW-Authenticate"]
        assert challenge.startswith(f'Bearer realm="{realm}"')
        d = dockerd_with_image(str(tmp_path), "alice/app:v1", {"app.txt": b"pushed to registry:2\n"})
        d.docker("tag", "alice/app:v1", f"{host}/alice/app:v1")
        d.docker("login", "-u", "alice", "--password-stdin", host, input=PASSWORDS["alice"].encode())
        d.docker("push", f"{host}/alice/app:v1")
        d.docker("rmi", f"{host}/alice/app:v1", "alice/app:v1")
        d.docker("pull", f"{host}/alice/app:v1")
        # The read-only user is refused a push by registry:2 on Berth's rules.
        d.docker("logout", host)
        d.docker("login", "-u", "reader", "--password-stdin", host, input=PASSWORDS["reader"].encode())
        d.docker("tag", f"{host}/alice/app:v1", f"{host}/alice/app:v2")
        assert d.docker("push", f"{host}/alice/app:v2", check=False).returncode != 0
    finally:
        if d:
            d.stop()
        r2.stop()


@pytest.mark.parametrize("kind", ["rsa", "ec", "ec384", "ed25519"])
def test_outside_issuers_kid_styles(start_berth, tmp_path, kind):
    key, cert = tokens.self_signed(str(tmp_path), "outside", kind)
    b = start_berth({"auth": {"token": {"realm": "https://auth.example.com/token", "service": SERVICE,
                                        "issuer": ISSUER, "rootcertbundle": cert}}})
    public = tokens.load_cert(cert).public_key()
    payload = tokens.claims(tokens.pull("team/app"))
    for headers in [{"kid": tokens.libtrust_kid(public)}, {"kid": tokens.thumbprint(public)},
                    {"x5c": tokens.x5c(cert)}, {"jwk": {**tokens.jwk(public), "kid": "whatever"}}]:
        t = tokens.sign(key, payload, headers)
        r = requests.get(b.url + "/v2/team/app/tags/list", headers=bearer(t))
        assert r.status_code == 404, (headers, r.status_code, r.text)  # authorized; the repository is empty
        r = requests.get(b.url + "/v2/team/other/tags/list", headers=bearer(t))
        assert r.status_code == 401


def test_autoredirect_realm_is_the_host_asked(start_berth, tmp_path):
    _, cert = tokens.self_signed(str(tmp_path), "outside")
    b = start_berth({"auth": {"token": {"realm": "https://ignored.example.com/token", "service": SERVICE,
                                        "issuer": ISSUER, "rootcertbundle": cert, "autoredirect": True}}})
    r = requests.get(b.url + "/v2/")
    assert r.headers["WWW-Authenticate"] == f'Bearer realm="http://127.0.0.1:{b.port}/auth/token",service="{SERVICE}"'
    r = requests.get(b.url + "/v2/", headers={"Host": "registry.example.com", "X-Forwarded-Proto": "https"})
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="https://registry.example.com/auth/token"')


def test_jwks_and_x5c_chains(start_berth, tmp_path):
    import json
    d = str(tmp_path)
    ca_key, ca_cert = tokens.self_signed(d, "ca")
    leaf_key, leaf_cert = tokens.signed_by(d, "leaf", ca_key, ca_cert)
    jwks_key, _ = tokens.self_signed(d, "jwks", "ec")
    public = tokens.load_key(jwks_key).public_key()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**tokens.jwk(public), "kid": "distribution-3-key", "use": "sig"}]}))
    b = start_berth({"auth": {"token": {"realm": "https://auth.example.com/token", "service": SERVICE,
                                        "issuer": ISSUER, "rootcertbundle": ca_cert, "jwks": str(jwks)}}})
    payload = tokens.claims(tokens.pull("team/app"))
    ok = [tokens.sign(leaf_key, payload, {"x5c": tokens.x5c(leaf_cert, ca_cert)}),
          tokens.sign(leaf_key, payload, {"x5c": tokens.x5c(leaf_cert)}),
          tokens.sign(jwks_key, payload, {"kid": "distribution-3-key"})]
    for t in ok:
        assert requests.get(b.url + "/v2/team/app/tags/list", headers=bearer(t)).status_code == 404
    # The leaf is not in the bundle: a kid naming it finds nothing.
    leaf_public = tokens.load_cert(leaf_cert).public_key()
    t = tokens.sign(leaf_key, payload, {"kid": tokens.libtrust_kid(leaf_public)})
    assert requests.get(b.url + "/v2/team/app/tags/list", headers=bearer(t)).status_code == 401


def test_anonymous_pull_through_only_for_allowed_patterns(start_berth, tmp_path):
    """The seed's DOCKERHUB_ALLOWED: anonymous may pull through the mirror only what one rule
    names; nothing else reaches the upstream, and the upstream's password stays out of logs."""
    from test_mirror import PASSWORD as UPSTREAM_PASSWORD, make_upstream, mirror_config, upstream_requests
    up = make_upstream(tmp_path)
    try:
        acl = [{"match": {"account": "admin"}, "actions": ["*"]},
               {"match": {"account": "", "name": "up.test/team/*"}, "actions": ["pull"]}]
        config, _, _ = tokens.issuing_config(str(tmp_path), acl=acl, users=users())
        b = start_berth(deep_merge(config, mirror_config(up)))
        allowed = tokens.token_for(b.url, ["repository:up.test/team/app:pull"])["token"]
        r = requests.get(f"{b.url}/v2/up.test/team/app/manifests/v1", headers=bearer(allowed))
        assert r.status_code == 200 and r.content == up.manifest
        assert requests.get(f"{b.url}/v2/up.test/team/app/manifests/v1").status_code == 401
        before = len(upstream_requests(up, "GET", "/v2/other/"))
        other = tokens.token_for(b.url, ["repository:up.test/other/app:pull"])
        assert tokens.granted(other["token"]) == []
        r = requests.get(f"{b.url}/v2/up.test/other/app/manifests/v1", headers=bearer(other["token"]))
        assert r.status_code == 401 and 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
        assert len(upstream_requests(up, "GET", "/v2/other/")) == before
        # A push into the mirrored namespace is refused even for a user allowed everything.
        admin = tokens.token_for(b.url, ["repository:up.test/team/app:pull,push"],
                                 auth=("admin", PASSWORDS["admin"]))["token"]
        r = requests.post(f"{b.url}/v2/up.test/team/app/blobs/uploads/", headers=bearer(admin))
        assert r.status_code in (403, 405) and r.json()["errors"][0]["code"] in ("DENIED", "UNSUPPORTED")
        assert UPSTREAM_PASSWORD not in b.logs()
    finally:
        up.stop()


def test_a_berth_mirrors_a_berth_behind_token_auth(start_berth, tmp_path):
    """Chains: the mirror follows the upstream Berth's Bearer challenge with its credentials."""
    config, _, _ = tokens.issuing_config(str(tmp_path), acl=ACL, users=users())
    up = start_berth(config, subdir="up")
    with requests.Session() as s:
        t = tokens.token_for(up.url, ["repository:alice/app:pull,push"], auth=("alice", PASSWORDS["alice"]))["token"]
        s.headers["Authorization"] = f"Bearer {t}"
        from test_mirror import image_with
        manifest = image_with(s, up.url, "alice/app", [b"layer through two hops"])
        assert s.put(f"{up.url}/v2/alice/app/manifests/v1", data=manifest,
                     headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}).status_code == 201
    mirror = start_berth({"mirror": {"upstreams": {"up": {
        "url": up.url, "prefixes": ["up.test"], "username": "alice", "password": PASSWORDS["alice"]}}}},
        subdir="down")
    r = requests.get(f"{mirror.url}/v2/up.test/alice/app/manifests/v1",
                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 200 and r.content == manifest
    assert PASSWORDS["alice"] not in mirror.logs()
