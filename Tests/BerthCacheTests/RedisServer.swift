import Foundation

/// A real `redis-server` on a free loopback port, for one test: started here, stopped by PID.
final class RedisServer: @unchecked Sendable {
    /// scripts/test.sh installs it and sets `BERTH_TEST_REDIS_REQUIRED`, so that a missing
    /// server fails the run instead of skipping these tests.
    static let binary: String? = {
        let found = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        precondition(
            found != nil || ProcessInfo.processInfo.environment["BERTH_TEST_REDIS_REQUIRED"] == nil,
            "BERTH_TEST_REDIS_REQUIRED is set but there is no redis-server")
        return found
    }()

    private(set) var port: Int
    let password: String?
    /// Spawned directly rather than through Foundation's `Process`, whose `waitUntilExit`
    /// spins on a thread that is not the main one.
    private var pid: pid_t = 0

    init(password: String? = nil) throws {
        self.port = Self.freePort()
        self.password = password
        // Tests run in parallel: another may take the free port between its pick and the
        // server's bind, and then this server exits at once. Such a start is tried again on
        // another port.
        for _ in 0..<20 {
            if try start() { return }
            port = Self.freePort()
        }
        throw SpawnFailed()
    }

    deinit { stop() }

    struct SpawnFailed: Error {}

    /// Starts the server on `port`; false when it exited instead of listening there.
    @discardableResult
    func start() throws -> Bool {
        var arguments = [
            Self.binary!, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--loglevel", "warning", "--logfile", "/dev/null",
        ]
        if let password { arguments += ["--requirepass", password] }
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        // The test runner's threads block signals, and a child inherits the mask: unblock them
        // all, and send the server's output nowhere (it must not hold the runner's pipes).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        var files = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&files)
        defer { posix_spawn_file_actions_destroy(&files) }
        posix_spawn_file_actions_addopen(&files, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&files, 2, "/dev/null", O_WRONLY, 0)
        var pid: pid_t = 0
        guard posix_spawn(&pid, Self.binary!, &files, &attributes, &argv, environ) == 0 else { throw SpawnFailed() }
        self.pid = pid
        // Ready once it accepts connections and is still alive a moment later (what answered
        // may otherwise be another test's server on a port this one failed to bind).
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if !alive() { return false }
            if Self.accepts(port) {
                usleep(50_000)
                if alive() { return true }
                return false
            }
            usleep(20_000)
        }
        return false
    }

    private func alive() -> Bool {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            pid = 0
            return false
        }
        return true
    }

    func stop() {
        guard pid > 0 else { return }
        // Nothing to save: the server keeps no data on disk.
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
    }

    /// Freezes the server (SIGSTOP) or lets it go on (SIGCONT): a Redis that does not answer.
    func pause(_ paused: Bool) {
        if pid > 0 { kill(pid, paused ? SIGSTOP : SIGCONT) }
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
