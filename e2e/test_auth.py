"""auth.htpasswd against real clients: Docker's login, push, pull and logout, skopeo with
credentials, a wrong password, the file read again when it changes, failed logins slowed down,
and no password in the logs."""
import os
import subprocess
import time

import pytest
import requests

from conftest import oci_error
from peers import dockerd_with_image

PASSWORD = "correct horse battery"


def htpasswd_line(user, password):
    return subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True,
                          check=True).stdout.strip() + "\n"


@pytest.fixture
def secured(start_berth, tmp_path):
    path = tmp_path / "htpasswd"
    path.write_text(htpasswd_line("alice", PASSWORD))
    b = start_berth({"auth": {"htpasswd": {"realm": "berth-test", "path": str(path)}}})
    b.htpasswd = path
    return b


def test_requests_without_credentials_get_the_basic_challenge(secured):
    for method, path in [("GET", "/v2/"), ("GET", "/v2/team/app/tags/list"), ("POST", "/v2/team/app/blobs/uploads/"),
                         ("GET", "/v2/_catalog")]:
        r = requests.request(method, secured.url + path)
        oci_error(r, "UNAUTHORIZED", 401)
        assert r.headers["WWW-Authenticate"] == 'Basic realm="berth-test"'
    r = requests.get(secured.url + "/v2/", auth=("alice", "wrong"))
    oci_error(r, "UNAUTHORIZED", 401)
    r = requests.get(secured.url + "/v2/", auth=("mallory", PASSWORD))
    oci_error(r, "UNAUTHORIZED", 401)
    assert requests.get(secured.url + "/debug/health").status_code == 200
    # Nothing was stored by the refused push.
    assert not os.path.exists(os.path.join(secured.data, "docker/registry/v2/repositories"))


def test_a_user_pushes_and_pulls(secured):
    with requests.Session() as s:
        s.auth = ("alice", PASSWORD)
        assert s.get(secured.url + "/v2/").status_code == 200
        r = s.post(f"{secured.url}/v2/team/app/blobs/uploads/")
        assert r.status_code == 202, r.text
        assert s.get(f"{secured.url}/v2/_catalog").status_code == 200
    assert PASSWORD not in secured.logs()


def test_the_file_is_read_again_when_it_changes(secured):
    assert requests.get(secured.url + "/v2/", auth=("bob", "b0b-pass")).status_code == 401
    time.sleep(1.1)  # modification times are compared, and the file looked at once a second
    with open(secured.htpasswd, "a") as f:
        f.write(htpasswd_line("bob", "b0b-pass"))
    deadline = time.time() + 5
    while requests.get(secured.url + "/v2/", auth=("bob", "b0b-pass")).status_code != 200:
        assert time.time() < deadline, "bob was never let in"
        time.sleep(0.2)


def test_failed_logins_are_slowed_down(secured):
    for _ in range(6):
        assert requests.get(secured.url + "/v2/", auth=("alice", "guess")).status_code == 401
    started = time.time()
    assert requests.get(secured.url + "/v2/", auth=("alice", "guess")).status_code == 401
    assert time.time() - started >= 0.45  # the 7th failure in a row waits 0.5 s
    assert requests.get(secured.url + "/v2/", auth=("alice", PASSWORD)).status_code == 200
    started = time.time()
    assert requests.get(secured.url + "/v2/", auth=("alice", "guess")).status_code == 401
    assert time.time() - started < 0.3  # a good login started the count over


def test_non_bcrypt_entries_are_refused_at_start_up(start_berth, tmp_path):
    from conftest import Berth
    path = tmp_path / "plain"
    path.write_text("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
    (tmp_path / "x").mkdir()
    with pytest.raises(RuntimeError) as failed:
        Berth(str(tmp_path / "x"), {"auth": {"htpasswd": {"realm": "r", "path": str(path)}}}).start()
    assert "auth.htpasswd.path" in str(failed.value) and "not a bcrypt hash" in str(failed.value)


def docker_login_push_pull_logout(tmp_path, host, repo, user, password):
    """Docker refused before login and with a wrong password, then login, push, pull; after
    logout, the private repository cannot be pulled."""
    image = f"{host}/{repo}:v1"
    d = dockerd_with_image(str(tmp_path), f"{repo}:v1", {"secret.txt": b"behind auth\n"})
    try:
        d.docker("tag", f"{repo}:v1", image)
        assert d.docker("push", image, check=False).returncode != 0  # not logged in
        wrong = d.docker("login", "-u", user, "--password-stdin", host, input=b"nope", check=False)
        assert wrong.returncode != 0
        d.docker("login", "-u", user, "--password-stdin", host, input=password.encode())
        d.docker("push", image)
        d.docker("rmi", image, f"{repo}:v1")
        d.docker("pull", image)
        d.docker("logout", host)
        d.docker("rmi", image)
        r = d.docker("pull", image, check=False)
        out = (r.stdout + r.stderr).lower()
        assert r.returncode != 0 and any(w in out for w in (b"unauthorized", b"no basic auth credentials", b"denied")), out
    finally:
        d.stop()


def test_docker_login_push_pull_logout(secured, tmp_path):
    docker_login_push_pull_logout(tmp_path, f"127.0.0.1:{secured.port}", "team/private", "alice", PASSWORD)
    assert PASSWORD not in secured.logs()


def test_skopeo_with_credentials(secured, tmp_path):
    from test_clients import archive
    ref = f"docker://127.0.0.1:{secured.port}/team/tool:v1"
    src = f"docker-archive:{archive(tmp_path)}"
    r = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", src, ref], capture_output=True, text=True)
    assert r.returncode != 0
    r = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", f"alice:{PASSWORD}", src, ref],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--creds", f"alice:{PASSWORD}", ref],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "team/tool" in r.stdout, r.stderr


def test_containerd_pulls_with_credentials(secured, tmp_path):
    from peers import Containerd
    from test_clients import archive
    host = f"127.0.0.1:{secured.port}"
    r = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", f"alice:{PASSWORD}",
                        f"docker-archive:{archive(tmp_path)}", f"docker://{host}/team/tool:v1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (tmp_path / "containerd").mkdir()
    c = Containerd(str(tmp_path / "containerd"))
    try:
        refused = c.ctr("images", "pull", "--plain-http", f"{host}/team/tool:v1", check=False)
        assert refused.returncode != 0
        c.ctr("images", "pull", "--plain-http", "--user", f"alice:{PASSWORD}", f"{host}/team/tool:v1")
        assert f"{host}/team/tool:v1" in c.ctr("images", "ls", "-q").stdout
    finally:
        c.stop()
