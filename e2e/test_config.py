"""Configuration: registry:2's file and environment, refusals with one clear line."""
import os
import subprocess

import requests

from conftest import BERTH, ROOT, push_blob


def run(args, env=None, cwd=None, timeout=10):
    e = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    e.update(env or {})
    return subprocess.run([BERTH] + args, capture_output=True, text=True, env=e, cwd=cwd, timeout=timeout)


def write(tmp_path, text):
    p = tmp_path / "config.yml"
    p.write_text(text)
    return str(p)


def test_version_and_help():
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("berth ")
    r = run(["help"])
    assert r.returncode == 0 and "serve" in r.stdout


def test_missing_file(tmp_path):
    r = run(["serve", str(tmp_path / "nope.yml")])
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0
    assert "cannot read configuration file" in r.stderr and "Traceback" not in r.stderr


def test_invalid_values_name_the_key(tmp_path):
    cases = {
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\n  delete:\n    enabled: maybe\n": "storage.delete.enabled",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nhttp:\n  addr: nonsense\n": "http.addr",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nlog:\n  level: loud\n": "log.level",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\ncatalog:\n  maxentries: -3\n": "catalog.maxentries",
        "version: 0.2\nstorage:\n  filesystem:\n    rootdirectory: /tmp/x\n": "version",
        "storage:\n  s3:\n    bucket: b\n": "storage.s3",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nauth:\n  htpasswd:\n    realm: r\n    path: /nope\n": "auth.htpasswd.path",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nauth:\n  htpasswd:\n    path: /p\n": "auth.htpasswd.realm",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nauth:\n  token:\n    realm: r\n": "auth.token",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nproxy:\n  remoteurl: ftp://registry-1.docker.io\n": "proxy.remoteurl",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\n  cache:\n    blobdescriptor: redis\n": "redis.addr",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\n  cache:\n    blobdescriptor: redis\nredis:\n  addr: x\n": "redis.addr",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nhttp:\n  tls:\n    certificate: /nope.pem\n    key: /nope.key\n": "http.tls",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nauth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n": "auth.token.rootcertbundle",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nauth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    rootcertbundle: /nope.pem\n": "auth.token.rootcertbundle",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nauth:\n  token:\n    realm: http://h/auth\n    service: s\n    issuer: i\n    server:\n      key: /nope.key\n      certificate: /nope.crt\n": "auth.token.server",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nauth:\n  token:\n    realm: http://h/auth\n    service: s\n    issuer: i\n    server:\n      key: /k\n      certificate: /c\n      acl:\n        - match: {colour: red}\n          actions: [pull]\n": "auth.token.server.acl[0].match.colour",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nauth:\n  token:\n    realm: http://h/auth\n    service: s\n    issuer: i\n    server:\n      key: /k\n      certificate: /c\n      users:\n        bob: plaintext\n": "auth.token.server.users.bob",
        "storage: [\n": "not valid YAML",
    }
    for text, key in cases.items():
        r = run(["serve", write(tmp_path, text)])
        assert r.returncode != 0, text
        assert key in r.stderr, (text, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_unknown_key_is_a_warning(start_berth):
    b = start_berth({"storage": {"filesystem": {"colour": "blue"}}, "mystery": {"a": 1}})
    logs = b.logs()
    assert "storage.filesystem.colour" in logs and "mystery.a" in logs
    assert requests.get(f"{b.url}/v2/").status_code == 200


def test_environment_overrides(start_berth, tmp_path):
    data = str(tmp_path / "from-env")
    b = start_berth({"storage": {"delete": {"enabled": False}}},
                    env={"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": data,
                         "REGISTRY_STORAGE_DELETE_ENABLED": "true",
                         "REGISTRY_HTTP_RELATIVEURLS": "true"})
    d = push_blob(b.url, "team/app", b"env")
    assert os.path.exists(os.path.join(data, "docker/registry/v2/blobs/sha256", d[7:9], d[7:], "data"))
    assert requests.delete(f"{b.url}/v2/team/app/blobs/{d}").status_code == 202
    assert requests.post(f"{b.url}/v2/team/app/blobs/uploads/").headers["Location"].startswith("/v2/")


def serve_on_default_port(args, cwd):
    """Runs `berth ARGS` with nothing naming an address, as a new user does, and returns the
    process once :5000 answers. The embedded default has no other port, so :5000 must be free."""
    import socket
    import time
    from peers import port_open
    if port_open(5000):
        raise AssertionError("port 5000 is taken by another process; this test needs it free")
    log = open(os.path.join(cwd, "log"), "w")
    p = subprocess.Popen([BERTH] + args, cwd=cwd, stderr=log, stdout=log,
                         env={k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")})
    for _ in range(200):
        if port_open(5000) or p.poll() is not None:
            break
        time.sleep(0.05)
    return p


def stop(p):
    import signal
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0


def test_embedded_default_serves_on_5000_from_working_directory(tmp_path):
    """The README's first command: `berth serve`, no config, no http.addr, in an empty folder."""
    p = serve_on_default_port(["serve"], str(tmp_path))
    try:
        log = (tmp_path / "log").read_text()
        assert p.poll() is None, log
        assert "embedded default" in log
        # All interfaces: 127.0.0.2 reaches a listener on 0.0.0.0, not one on 127.0.0.1 alone.
        for url in ("http://127.0.0.1:5000", "http://127.0.0.2:5000"):
            d = push_blob(url, "team/app", b"default " + url.encode())
            assert requests.get(f"{url}/v2/team/app/blobs/{d}").content == b"default " + url.encode()
        assert (tmp_path / "berth-data/docker/registry/v2/blobs/sha256").is_dir()
    finally:
        stop(p)


def test_config_without_addr_serves_on_5000(tmp_path):
    data = tmp_path / "data"
    path = write(tmp_path, f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {data}\n")
    p = serve_on_default_port(["serve", path], str(tmp_path))
    try:
        assert p.poll() is None, (tmp_path / "log").read_text()
        d = push_blob("http://127.0.0.2:5000", "team/app", b"no addr")
        assert requests.get(f"http://127.0.0.1:5000/v2/team/app/blobs/{d}").content == b"no addr"
        assert (data / "docker/registry/v2/blobs/sha256").is_dir()
    finally:
        stop(p)


def test_example_configs_start(tmp_path):
    """Every example in config/ loads (with its address and paths pointed at a temp dir)."""
    import glob
    import signal
    import time
    examples = sorted(glob.glob(os.path.join(ROOT, "config", "*.yml")) +
                      glob.glob(os.path.join(ROOT, "config", "token", "*.yml")))
    assert examples
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(subprocess.run(["htpasswd", "-Bbn", "alice", "pw"], capture_output=True, text=True).stdout)
    # The token examples' key, certificate and users, pointed at the files made here.
    paths = {"/etc/berth/token.key": key, "/etc/berth/token.crt": cert, "/certs/auth.crt": cert,
             "/etc/berth/htpasswd": str(htpasswd)}
    for example in examples:
        if os.sep + "token" + os.sep in example:
            text = open(example).read()
            for old, new in paths.items():
                text = text.replace(old, new)
            example = str(tmp_path / ("token-" + os.path.basename(example)))
            with open(example, "w") as f:
                f.write(text)
        log = tmp_path / (os.path.basename(example) + ".log")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")},
               "REGISTRY_HTTP_ADDR": "127.0.0.1:0",
               "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path / "data"),
               "REGISTRY_HTTP_TLS_CERTIFICATE": cert, "REGISTRY_HTTP_TLS_KEY": key}
        if "tls" not in example:
            env.pop("REGISTRY_HTTP_TLS_CERTIFICATE")
            env.pop("REGISTRY_HTTP_TLS_KEY")
        with open(log, "w") as f:
            p = subprocess.Popen([BERTH, "serve", example], stderr=f, stdout=f, env=env)
        try:
            for _ in range(100):
                if "listening on" in log.read_text() or p.poll() is not None:
                    break
                time.sleep(0.05)
            assert "listening on" in log.read_text(), (example, log.read_text())
            assert "unknown configuration key" not in log.read_text(), (example, log.read_text())
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(10)
