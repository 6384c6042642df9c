"""SeaweedFS for the tests: a real S3 server on loopback ports, started and stopped by PID.

As a module: `SeaweedFS(directory).start()` gives an endpoint with a bucket and credentials.
As a script (scripts/test.sh uses it for `swift test`):
    python3 e2e/seaweed.py start DIR   # prints BERTH_TEST_S3_* assignments for the shell
    python3 e2e/seaweed.py stop DIR
"""
import datetime
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ACCESS_KEY = "berthtestkey"
SECRET_KEY = "berthtestsecret"
REGION = "us-east-1"


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def sign(method, host, path, access=ACCESS_KEY, secret=SECRET_KEY, region=REGION):
    """Headers of a SigV4-signed request with an empty body (an independent signer, so that
    the tests do not trust Berth's own to create what Berth then reads)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(b"").hexdigest()
    canonical_headers = f"host:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n"
    signed = "host;x-amz-content-sha256;x-amz-date"
    request = "\n".join([method, path, "", canonical_headers, signed, payload])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "x-amz-date": amz_date, "x-amz-content-sha256": payload,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access}/{scope},SignedHeaders={signed},Signature={signature}",
    }


class SeaweedFS:
    def __init__(self, directory):
        self.directory = directory
        self.process = None
        self.s3_port = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self):
        os.makedirs(self.directory, exist_ok=True)
        config = os.path.join(self.directory, "s3.json")
        with open(config, "w") as f:
            json.dump({"identities": [{
                "name": "berth", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }]}, f)
        (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc) = free_ports(8)
        self.s3_port = s3
        data = os.path.join(self.directory, "data")
        os.makedirs(data, exist_ok=True)
        log = open(os.path.join(self.directory, "weed.log"), "wb")
        self.process = subprocess.Popen([
            "weed", f"-logdir={self.directory}", "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=100",
            "-master.volumeSizeLimitMB=1024",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={config}",
        ], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        with open(os.path.join(self.directory, "pid"), "w") as f:
            f.write(str(self.process.pid))
        deadline = time.time() + 90
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}; see {self.directory}/weed.log")
            try:
                self.request("GET", "/")
                break
            except OSError:
                if time.time() > deadline:
                    self.stop()
                    raise RuntimeError(f"SeaweedFS S3 did not come up; see {self.directory}/weed.log")
                time.sleep(0.3)
        return self

    def request(self, method, path):
        host = f"127.0.0.1:{self.s3_port}"
        request = urllib.request.Request(self.endpoint + path, method=method, headers=sign(method, host, path))
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()

    def make_bucket(self, name):
        """Creates a bucket, retrying while the freshly started cluster has no writable volume yet."""
        deadline = time.time() + 60
        while True:
            try:
                self.request("PUT", f"/{name}")
                return name
            except (OSError, urllib.error.HTTPError) as error:
                if isinstance(error, urllib.error.HTTPError) and error.code == 409:
                    return name
                if time.time() > deadline:
                    raise
                time.sleep(0.5)

    def config(self, root, bucket="berth-e2e", **overrides):
        """A `storage.s3` block for this server, under its own root directory."""
        return {"bucket": bucket, "region": REGION, "regionendpoint": self.endpoint, "forcepathstyle": True,
                "secure": False, "accesskey": ACCESS_KEY, "secretkey": SECRET_KEY, "rootdirectory": f"/{root}",
                **overrides}

    def stop(self):
        stop_pid(self.directory, self.process)


def stop_pid(directory, process=None):
    pid_file = os.path.join(directory, "pid")
    pid = process.pid if process else int(open(pid_file).read()) if os.path.exists(pid_file) else None
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if process:
                if process.poll() is not None:
                    return
            else:
                os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    command, directory = sys.argv[1], sys.argv[2]
    if command == "start":
        server = SeaweedFS(directory).start()
        server.make_bucket("berth-tests")
        print(f"export BERTH_TEST_S3_ENDPOINT={server.endpoint}")
        print(f"export BERTH_TEST_S3_BUCKET=berth-tests")
        print(f"export BERTH_TEST_S3_ACCESSKEY={ACCESS_KEY}")
        print(f"export BERTH_TEST_S3_SECRETKEY={SECRET_KEY}")
        print(f"export BERTH_TEST_S3_REGION={REGION}")
    else:
        stop_pid(directory)
