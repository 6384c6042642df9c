"""Berth and registry:2 started from the same config.yml — filesystem storage on the same disk,
delete enabled, access logs off, only the address and data directory differ — and stopped by PID."""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from peers import Process, free_port, port_open, wait_for  # noqa: E402

CONFIG = """version: 0.1
log:
  level: error
  accesslog:
    disabled: {no_access_log}
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
catalog:
  maxentries: {max_entries}
http:
  addr: 127.0.0.1:{port}
"""


def evict_from_page_cache(path):
    """Drops a file's cached pages, so that a process starting from it reads it in from disk.

    How much of an executable a process has resident depends on how its pages sit in the page
    cache: a binary just written by the linker (or by `cp`) is cached in large folios, and a
    fault maps a whole folio. Evicting both servers' binaries before they start measures both
    as they start after a reboot, instead of one as freshly built and the other as installed."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class Server:
    """One registry process under test."""

    def __init__(self, name, command, work, max_entries, extra="", access_log=False, config=None,
                 env=None):
        """`config(port, data)`, when given, writes the whole config instead of the shared one."""
        evict_from_page_cache(shutil.which(command[0]))
        self.name = name
        self.port = free_port()
        self.data = os.path.join(work, name, "data")
        os.makedirs(self.data, exist_ok=True)
        config_path = os.path.join(work, name, "config.yml")
        with open(config_path, "w") as f:
            f.write(config(self.port, self.data) if config else
                    CONFIG.format(data=self.data, port=self.port, max_entries=max_entries,
                                  no_access_log="false" if access_log else "true") + extra)
        self.process = Process(command + [config_path], os.path.join(work, name, "server.log"), env=env)
        wait_for(lambda: port_open(self.port), what=name)
        if self.process.proc.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{self.process.logs()}")

    @property
    def pid(self):
        return self.process.proc.pid

    def _status_kib(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise RuntimeError(f"no {field} for {self.name}")

    def cpu_seconds(self):
        """User and system CPU time the process has used so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self):
        return self._status_kib("VmRSS") / 1024

    def reset_peak_rss(self):
        # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0).
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")

    def peak_rss_mib(self):
        return self._status_kib("VmHWM") / 1024

    def stop(self):
        self.process.stop()


def start_berth(binary, work, max_entries):
    return Server("berth", [binary, "serve"], work, max_entries)


def start_registry2(work, max_entries):
    return Server("registry2", ["docker-registry", "serve"], work, max_entries)


def start_upstream(work):
    """The mirror section's upstream: a plain registry:2 that logs every request."""
    return Server("upstream", ["docker-registry", "serve"], os.path.join(work, "mirror"), 1000, access_log=True)


def start_mirrors(binary, work, remote_port, label=""):
    """Berth and registry:2 in front of the upstream at `remote_port`, each given registry:2's
    `proxy:` block (Berth also keeps `local/**` pushable, for the warm-pull comparison)."""
    proxy = f"proxy:\n  remoteurl: http://127.0.0.1:{remote_port}\n"
    berth = Server(f"berth{label}", [binary, "serve"], os.path.join(work, "mirror"), 1000,
                   extra=proxy + "mirror:\n  local: [\"local/**\"]\n")
    registry2 = Server(f"registry2{label}", ["docker-registry", "serve"], os.path.join(work, "mirror"), 1000,
                       extra=proxy)
    return berth, registry2
