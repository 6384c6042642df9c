// The system's OpenSSL libcrypto, for SHA-256 only: its SHA256_CTX is a plain struct whose
// state can be saved and restored, which swift-crypto's SHA256 cannot, so an upload's hash can
// move between replicas (OCI's SHA256State). The low-level SHA256_* calls are deprecated in
// OpenSSL 3 in favour of EVP, whose contexts are opaque; they run the same hardware code.
// Linked statically (module.modulemap): only the SHA-256 objects and the CPU feature probe come
// in (tens of KiB), where the shared library added 1.5 MiB to idle memory and a runtime
// dependency on libssl3.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
