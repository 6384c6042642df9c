import BerthConfig
import NIOSSL

/// The server's TLS context from `http.tls`.
enum TLSContext {
    static func make(_ tls: Configuration.TLS) throws -> NIOSSLContext {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map {
                NIOSSLCertificateSource.certificate($0)
            }
            let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = tls.minimumTLS == "tls1.3" ? .tlsv13 : .tlsv12
            if !tls.clientCAs.isEmpty {
                let roots = try tls.clientCAs.flatMap { try NIOSSLCertificate.fromPEMFile($0) }
                configuration.trustRoots = .certificates(roots)
                configuration.certificateVerification = .noHostnameVerification
            }
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ConfigError(
                key: "http.tls", message: "cannot load certificate \(tls.certificate) / key \(tls.key): \(error)")
        }
    }
}
