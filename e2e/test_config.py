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
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nauth:\n  htpasswd:\n    realm: r\n    path: /p\n": "auth",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nproxy:\n  remoteurl: https://registry-1.docker.io\n": "proxy",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nredis:\n  addr: localhost:6379\n": "redis",
        "storage:\n  filesystem:\n    rootdirectory: /tmp/x\nhttp:\n  tls:\n    certificate: /nope.pem\n    key: /nope.key\n": "http.tls",
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


def test_embedded_default_serves_from_working_directory(tmp_path):
    import re
    import signal
    import time
    log = tmp_path / "log"
    with open(log, "w") as f:
        p = subprocess.Popen([BERTH, "serve"], cwd=tmp_path, stderr=f, stdout=f,
                             env={**{k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")},
                                  "REGISTRY_HTTP_ADDR": "127.0.0.1:0"})
    try:
        for _ in range(100):
            m = re.search(r"listening on http://127.0.0.1:(\d+)", log.read_text())
            if m:
                break
            time.sleep(0.05)
        assert m, log.read_text()
        assert "embedded default" in log.read_text()
        push_blob(f"http://127.0.0.1:{m.group(1)}", "team/app", b"default")
        assert (tmp_path / "berth-data/docker/registry/v2/blobs/sha256").is_dir()
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0


def test_example_configs_start(tmp_path):
    """Every example in config/ loads (with its address and paths pointed at a temp dir)."""
    import glob
    import signal
    import time
    examples = sorted(glob.glob(os.path.join(ROOT, "config", "*.yml")))
    assert examples
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    for example in examples:
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
