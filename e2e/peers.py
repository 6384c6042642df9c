"""Real peers for end-to-end tests: registry:2, dockerd, containerd, each in a temp dir,
started and stopped by PID, on loopback only."""
import hashlib
import gzip
import io
import json
import os
import socket
import subprocess
import tarfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class Process:
    def __init__(self, args, log_path, env=None, cwd=None):
        self.log = open(log_path, "w")
        self.log_path = log_path
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=env, cwd=cwd)

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def logs(self):
        with open(self.log_path) as f:
            return f.read()


class Redis:
    """A redis-server of our own on a free port, killed by PID."""

    def __init__(self, tmp, port=None, databases=16):
        self.port = port or free_port()
        self.log = open(os.path.join(tmp, f"redis-{self.port}.log"), "a")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--daemonize", "no",
                                      "--databases", str(databases)], stdout=self.log, stderr=self.log)
        wait_for(lambda: port_open(self.port), what="redis")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Registry2:
    """CNCF distribution 2.8 (Debian's docker-registry) serving a data directory."""

    def __init__(self, tmp, data, htpasswd=None, token=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = os.path.join(tmp, "registry2.yml")
        with open(config, "w") as f:
            f.write(f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{self.port}
""")
            if htpasswd:
                f.write(f"auth:\n  htpasswd:\n    realm: upstream\n    path: {htpasswd}\n")
            if token:
                f.write("auth:\n  token:\n" + "".join(f"    {k}: {v}\n" for k, v in token.items()))
        self.process = Process(["docker-registry", "serve", config], os.path.join(tmp, "registry2.log"))
        wait_for(lambda: port_open(self.port), what="registry:2")

    def stop(self):
        self.process.stop()


def oci_image_tar_layer(files):
    """A layer tar (uncompressed) of {path: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def docker_archive(path, repo_tag, layers):
    """Writes a `docker save` style archive with the given layer tars; returns the config digest."""
    diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    with tarfile.open(path, "w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        names = []
        for i, layer in enumerate(layers):
            name = f"layer{i}/layer.tar"
            add(name, layer)
            names.append(name)
        add(config_name, config)
        add("manifest.json", json.dumps([{"Config": config_name, "RepoTags": [repo_tag], "Layers": names}]).encode())
    return "sha256:" + hashlib.sha256(config).hexdigest()


class Dockerd:
    def __init__(self, tmp, mirror=None):
        self.root = tmp
        self.sock = os.path.join(tmp, "docker.sock")
        args = ["dockerd", "--data-root", f"{tmp}/data", "--exec-root", f"{tmp}/exec", "--pidfile", f"{tmp}/pid",
                "-H", f"unix://{self.sock}", "--iptables=false", "--ip6tables=false", "--bridge=none",
                "--storage-driver=vfs"]
        if mirror:
            args += ["--registry-mirror", mirror]
        self.process = Process(args, os.path.join(tmp, "dockerd.log"))
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}"}
        wait_for(lambda: self.docker("version", check=False).returncode == 0, timeout=60, what="dockerd")

    # The client from Debian's docker.io, the same version as the daemon it talks to (the image may
    # carry a newer client earlier on PATH).
    CLIENT = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"

    def docker(self, *args, check=True, input=None):
        r = subprocess.run([self.CLIENT, *args], env=self.env, capture_output=True, input=input, timeout=300)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed: {r.stdout!r} {r.stderr!r}")
        return r

    def stop(self):
        self.process.stop(timeout=30)


def dockerd_with_image(tmp, repo_tag, files):
    """A private Docker engine under `tmp`/d with a one-layer image of `files` loaded as
    `repo_tag` (loaded, not pulled, so that only the registry under test is ever asked)."""
    archive = os.path.join(tmp, "img.tar")
    docker_archive(archive, repo_tag, [oci_image_tar_layer(files)])
    os.makedirs(os.path.join(tmp, "d"))
    d = Dockerd(os.path.join(tmp, "d"))
    try:
        d.docker("load", "-i", archive)
    except BaseException:
        d.stop()
        raise
    return d


class Containerd:
    def __init__(self, tmp):
        self.root = tmp
        self.sock = os.path.join(tmp, "containerd.sock")
        config = os.path.join(tmp, "config.toml")
        with open(config, "w") as f:
            f.write(f'version = 2\nroot = "{tmp}/root"\nstate = "{tmp}/state"\n[grpc]\n  address = "{self.sock}"\n')
        self.process = Process(["containerd", "--config", config], os.path.join(tmp, "containerd.log"))
        wait_for(lambda: os.path.exists(self.sock), what="containerd")

    def ctr(self, *args, check=True):
        r = subprocess.run(["ctr", "-a", self.sock, *args], capture_output=True, text=True, timeout=300)
        if check and r.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} failed: {r.stdout} {r.stderr}")
        return r

    def stop(self):
        self.process.stop()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def gz(data):
    return gzip.compress(data, mtime=0)
