"""Token-auth helpers for end-to-end tests: signing keys and certificates made with openssl, key
IDs computed independently of Berth (libtrust, RFC 7638), tokens signed with PyJWT, and a Berth
config that issues and validates tokens."""
import base64
import hashlib
import json
import os
import subprocess
import time
import uuid

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from peers import free_port

SERVICE = "berth-test"
ISSUER = "berth-test-issuer"


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def self_signed(directory, name, kind="rsa"):
    """A key and self-signed certificate: (key path, cert path)."""
    key, cert = os.path.join(directory, f"{name}.key"), os.path.join(directory, f"{name}.crt")
    newkey = {"rsa": ["rsa:2048"], "ec": ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
              "ec384": ["ec", "-pkeyopt", "ec_paramgen_curve:P-384"], "ed25519": ["ed25519"]}[kind]
    openssl("req", "-x509", "-newkey", *newkey, "-nodes", "-keyout", key, "-out", cert, "-days", "2",
            "-subj", f"/CN={name}")
    return key, cert


def signed_by(directory, name, ca_key, ca_cert):
    """A P-256 key and a certificate for it issued by the CA."""
    key, csr, cert = (os.path.join(directory, f"{name}.{ext}") for ext in ("key", "csr", "crt"))
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", csr, "-subj", f"/CN={name}")
    openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
            "-days", "2")
    return key, cert


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def x5c(*cert_paths):
    return [base64.b64encode(load_cert(p).public_bytes(serialization.Encoding.DER)).decode() for p in cert_paths]


def libtrust_kid(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(public_key):
    """The public key's required JWK members (RFC 7517/7518/8037)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        n = public_key.public_numbers()
        as_bytes = lambda i: i.to_bytes((i.bit_length() + 7) // 8, "big")
        return {"e": b64url(as_bytes(n.e)), "kty": "RSA", "n": b64url(as_bytes(n.n))}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        size = (public_key.curve.key_size + 7) // 8
        n = public_key.public_numbers()
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[public_key.curve.name]
        return {"crv": crv, "kty": "EC", "x": b64url(n.x.to_bytes(size, "big")), "y": b64url(n.y.to_bytes(size, "big"))}
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}


def thumbprint(public_key):
    canonical = json.dumps(jwk(public_key), sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def alg_for(key):
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
    return "EdDSA"


def claims(access=(), sub="alice", aud=SERVICE, iss=ISSUER, exp_in=300, nbf_in=None, **extra):
    now = int(time.time())
    out = {"iss": iss, "sub": sub, "aud": aud, "iat": now, "jti": uuid.uuid4().hex,
           "access": [{"type": t, "name": n, "actions": a} for t, n, a in access]}
    if exp_in is not None:
        out["exp"] = now + exp_in
    if nbf_in is not None:
        out["nbf"] = now + nbf_in
    out.update(extra)
    return out


def sign(key_path, payload, headers, alg=None):
    key = load_key(key_path)
    return jwt.encode(payload, key, algorithm=alg or alg_for(key), headers=headers)


def pull(name):
    return [("repository", name, ["pull"])]


def issuing_config(directory, acl=None, users=None, kid=None, kind="rsa"):
    """A Berth config that serves the token endpoint on a fixed port and validates its tokens."""
    key, cert = self_signed(directory, "issuer", kind)
    port = free_port()
    server = {"key": key, "certificate": cert, "users": users or {}}
    if acl is not None:
        server["acl"] = acl
    if kid:
        server["kid"] = kid
    config = {"http": {"addr": f"127.0.0.1:{port}"},
              "auth": {"token": {"realm": f"http://127.0.0.1:{port}/auth/token", "service": SERVICE,
                                 "issuer": ISSUER, "server": server}}}
    return config, key, cert


def token_for(url, scopes=(), auth=None, **params):
    r = requests.get(url + "/auth/token", params={"service": SERVICE, "scope": list(scopes), **params}, auth=auth)
    assert r.status_code == 200, r.text
    return r.json()


def granted(token):
    return jwt.decode(token, options={"verify_signature": False})["access"]
