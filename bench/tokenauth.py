"""Token auth's cost: manifest GETs by tag with `auth.token` on in both servers, each request
carrying one cached, valid token (as a client re-uses its token), against the same GETs with
auth off. Both servers get the same `auth.token` block: a docker_auth-style RSA certificate in
`rootcertbundle`, tokens with its libtrust `kid` (no `x5c`), signed here with PyJWT."""
import base64
import hashlib
import os
import subprocess
import time
import uuid
from types import SimpleNamespace

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from client import Connection
from servers import Server
from workloads import MANIFEST_REPO, OCI_MANIFEST, check, prepare_manifest, wrk

SERVICE, ISSUER = "bench", "bench-issuer"


def declare(metric):
    metric("manifest GET, token auth", "req/s")
    metric("manifest GET, token auth p99", "ms")
    metric("token auth cost per request", "µs")


def libtrust_kid(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


def start(binary, work):
    """Both servers with a pushed manifest behind token auth, and beside each the same server
    with auth off (its own data, the same manifest), for the cost per request."""
    work = os.path.join(work, "auth")
    os.makedirs(work, exist_ok=True)
    key, cert = os.path.join(work, "token.key"), os.path.join(work, "token.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=bench-token"], check=True, capture_output=True)
    auth = (f"auth:\n  token:\n    realm: https://auth.example.com/token\n    service: {SERVICE}\n"
            f"    issuer: {ISSUER}\n    rootcertbundle: {cert}\n")
    commands = {"berth": [binary, "serve"], "registry2": ["docker-registry", "serve"]}
    setup = SimpleNamespace(guarded={}, open={}, token=None)
    try:
        for side, command in commands.items():
            setup.open[side] = Server(f"{side}-open", command, work, 1000)
            prepare_manifest(setup.open[side], None)
            first = Server(side, command, work, 1000)
            try:
                prepare_manifest(first, None)
            finally:
                first.stop()
            setup.guarded[side] = Server(side, command, work, 1000, extra=auth)
        with open(key, "rb") as f:
            private = serialization.load_pem_private_key(f.read(), None)
        with open(cert, "rb") as f:
            kid = libtrust_kid(x509.load_pem_x509_certificate(f.read()).public_key())
        now = int(time.time())
        setup.token = jwt.encode(
            {"iss": ISSUER, "sub": "bench", "aud": SERVICE, "iat": now, "nbf": now, "exp": now + 86400,
             "jti": uuid.uuid4().hex, "access": [{"type": "repository", "name": MANIFEST_REPO, "actions": ["pull"]}]},
            private, algorithm="RS256", headers={"kid": kid})
    except BaseException:
        stop(setup)
        raise
    return setup


def check_guarded(setup):
    """Both servers refuse the GET without the token and answer it with the token."""
    for side, server in setup.guarded.items():
        with Connection(server.port) as c:
            path = f"/v2/{MANIFEST_REPO}/manifests/latest"
            r = c.request("GET", path, headers={"Accept": OCI_MANIFEST})
            check(r.status == 401, f"{side} answered {r.status} without a token")
            r = c.request("GET", path, headers={"Accept": OCI_MANIFEST, "Authorization": f"Bearer {setup.token}"})
            check(r.status == 200, f"{side} answered {r.status} with a valid token")


def measure_round(round_, ctx, setup, results):
    """The manifest GETs of one round, both servers, without and with token auth; the server
    that goes first swaps from round to round."""
    sides = list(setup.guarded)
    for side in sides[::-1] if round_ % 2 else sides:
        open_url = f"http://127.0.0.1:{setup.open[side].port}/v2/{MANIFEST_REPO}/manifests/latest"
        url = f"http://127.0.0.1:{setup.guarded[side].port}/v2/{MANIFEST_REPO}/manifests/latest"

        def measure():
            open_rps, _ = wrk(open_url, ctx.connections, ctx.seconds, [f"Accept: {OCI_MANIFEST}"])
            rps, p99 = wrk(url, ctx.connections, ctx.seconds,
                           [f"Accept: {OCI_MANIFEST}", f"Authorization: Bearer {setup.token}"])
            # Wall time per request at saturation, with auth minus without: what checking the
            # token adds, spread over the machine's cores.
            return {"manifest GET, token auth": rps, "manifest GET, token auth p99": p99,
                    "token auth cost per request": max(0.0, 1e6 / rps - 1e6 / open_rps)}
        results.run(side, "manifest GET, token auth", measure)


def stop(setup):
    for server in list(setup.guarded.values()) + list(setup.open.values()):
        server.stop()
