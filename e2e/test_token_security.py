"""The security catalogue for auth.token: every forged, stale, misdirected or too-narrow token,
every bad login, and every odd name is answered 401 with the right challenge, and storage does
not change. Tokens are made here with PyJWT against a certificate Berth trusts."""
import base64
import hashlib
import hmac
import json
import os

import pytest
import requests

from conftest import digest
import tokens
from tokens import SERVICE, ISSUER


def tree(root):
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files]
    return sorted(out)


@pytest.fixture
def guarded(start_berth, tmp_path):
    key, cert = tokens.self_signed(str(tmp_path), "trusted")
    b = start_berth({"auth": {"token": {"realm": "https://auth.example.com/token", "service": SERVICE,
                                        "issuer": ISSUER, "rootcertbundle": cert}}})
    b.key, b.cert = key, cert
    b.kid = tokens.libtrust_kid(tokens.load_cert(cert).public_key())
    # Something in storage to delete and overwrite.
    write = tokens.sign(key, tokens.claims([("repository", "team/app", ["pull", "push", "delete"])]), {"kid": b.kid})
    data = b"stored before the catalogue"
    r = requests.post(f"{b.url}/v2/team/app/blobs/uploads/?digest={digest(data)}", data=data,
                      headers={"Authorization": f"Bearer {write}"})
    assert r.status_code == 201, r.text
    return b


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(b):
    """(case, token, error) for tokens that must not pass, each for a pull of team/app."""
    good = tokens.claims(tokens.pull("team/app"))
    signed = lambda claims, headers=None: tokens.sign(b.key, claims, headers or {"kid": b.kid})
    header, payload, signature = signed(good).split(".")
    tampered = b64url(json.dumps(tokens.claims([("repository", "team/app", ["*"])])).encode())
    none = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": b.kid}).encode())
    hs_header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": b.kid}).encode())
    with open(b.cert, "rb") as f:
        public_pem = f.read()
    mac = hmac.new(public_pem, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest()
    stranger_key, stranger_cert = tokens.self_signed(b.tmp, "stranger")
    return [
        ("alg none", f"{none}.{payload}.", "invalid_token"),
        ("HS256 keyed with the public key", f"{hs_header}.{payload}.{b64url(mac)}", "invalid_token"),
        ("tampered payload", f"{header}.{tampered}.{signature}", "invalid_token"),
        ("expired", signed(tokens.claims(tokens.pull("team/app"), exp_in=-120)), "invalid_token"),
        ("no exp", signed(tokens.claims(tokens.pull("team/app"), exp_in=None)), "invalid_token"),
        ("nbf in the future", signed(tokens.claims(tokens.pull("team/app"), nbf_in=300)), "invalid_token"),
        ("wrong iss", signed(tokens.claims(tokens.pull("team/app"), iss="someone-else")), "invalid_token"),
        ("wrong aud", signed(tokens.claims(tokens.pull("team/app"), aud="other-service")), "invalid_token"),
        ("unknown kid", signed(good, {"kid": "AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL"}),
         "invalid_token"),
        ("certificate not in the bundle", tokens.sign(stranger_key, good, {"x5c": tokens.x5c(stranger_cert)}),
         "invalid_token"),
        ("trusted kid, stranger's signature", tokens.sign(stranger_key, good, {"kid": b.kid}), "invalid_token"),
        ("token for another repository", signed(tokens.claims(tokens.pull("team/other"))), "insufficient_scope"),
        ("token for a parent", signed(tokens.claims(tokens.pull("team"))), "insufficient_scope"),
        ("token for a prefix", signed(tokens.claims(tokens.pull("team/ap"))), "insufficient_scope"),
        ("registry type, same name", signed(tokens.claims([("registry", "team/app", ["pull"])])),
         "insufficient_scope"),
        ("token in the Basic header", None, None),
    ]


def test_forged_and_misdirected_tokens_are_refused(guarded):
    before = tree(guarded.data)
    for case, token, error in forged(guarded):
        headers = {"Authorization": f"Bearer {token}"} if token else {
            "Authorization": "Basic " + base64.b64encode(b"alice:secret").decode()}
        r = requests.get(f"{guarded.url}/v2/team/app/tags/list", headers=headers)
        assert r.status_code == 401, (case, r.status_code, r.text)
        challenge = r.headers["WWW-Authenticate"]
        expected = (f'Bearer realm="https://auth.example.com/token",service="{SERVICE}",'
                    f'scope="repository:team/app:pull"') + (f',error="{error}"' if error else "")
        assert challenge == expected, case
        assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert tree(guarded.data) == before
    logs = guarded.logs()
    assert all(t not in logs for _, t, _ in forged(guarded) if t)


def test_narrow_tokens_cannot_write(guarded):
    before = tree(guarded.data)
    u = guarded.url
    pull_only = tokens.sign(guarded.key, tokens.claims(tokens.pull("team/app")), {"kid": guarded.kid})
    for suffix in ["team/app", "team/app/c", "team/apps"]:
        data = b"must not be stored"
        r = requests.post(f"{u}/v2/{suffix}/blobs/uploads/?digest={digest(data)}", data=data,
                          headers={"Authorization": f"Bearer {pull_only}"})
        assert r.status_code == 401, (suffix, r.text)
        assert "error=" in r.headers["WWW-Authenticate"]
    blob = digest(b"stored before the catalogue")
    r = requests.delete(f"{u}/v2/team/app/blobs/{blob}", headers={"Authorization": f"Bearer {pull_only}"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].endswith(',scope="repository:team/app:delete",error="insufficient_scope"')
    # Mounting into a repository one may push to, from one the token does not name.
    push_b = tokens.sign(guarded.key, tokens.claims([("repository", "team/b", ["pull", "push"])]), {"kid": guarded.kid})
    r = requests.post(f"{u}/v2/team/b/blobs/uploads/?mount={blob}&from=team/app",
                      headers={"Authorization": f"Bearer {push_b}"})
    assert r.status_code == 401
    assert "repository:team/app:pull" in r.headers["WWW-Authenticate"]
    # The catalog without the catalog scope.
    r = requests.get(f"{u}/v2/_catalog", headers={"Authorization": f"Bearer {pull_only}"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].endswith(',scope="registry:catalog:*",error="insufficient_scope"')
    assert tree(guarded.data) == before


def test_odd_names_and_huge_headers(guarded):
    before = tree(guarded.data)
    u = guarded.url
    everything = tokens.sign(guarded.key, tokens.claims([("repository", "team/app", ["*"])]), {"kid": guarded.kid})
    for path in ["team/app/../other", "team/%2e%2e/app", "team//app", "Team/App", "team/app/%2E%2E"]:
        for headers in [{}, {"Authorization": f"Bearer {everything}"}]:
            r = requests.post(f"{u}/v2/{path}/blobs/uploads/", headers=headers)
            assert r.status_code in (400, 401, 404), (path, r.status_code)
            if not headers:
                assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer "), path
    r = requests.get(f"{u}/v2/team/app/tags/list", headers={"Authorization": "Bearer " + "A" * (1 << 20)})
    assert r.status_code in (401, 431), r.status_code
    assert requests.get(f"{u}/v2/").status_code == 401  # still serving
    assert tree(guarded.data) == before


def test_bad_logins_at_the_token_server(start_berth, tmp_path):
    from test_auth import htpasswd_line
    hash_ = htpasswd_line("alice", "s3cret-word").strip().split(":", 1)[1]
    config, _, _ = tokens.issuing_config(str(tmp_path), users={"alice": hash_})
    b = start_berth(config)
    for auth in [("alice", "wrong"), ("nobody", "s3cret-word"), ("", "")]:
        r = requests.get(b.url + "/auth/token", params={"service": SERVICE, "scope": "repository:alice/x:pull"},
                         auth=auth)
        assert r.status_code == 401, auth
    r = requests.get(b.url + "/auth/token", params={"service": SERVICE, "scope": "repository:alice/x:pull"},
                     auth=("alice", "s3cret-word"))
    assert r.status_code == 200
    assert "s3cret-word" not in b.logs() and r.json()["token"] not in b.logs()
