internal import Foundation

/// A key, certificate or key set file that cannot be used, said in one line for start-up.
struct KeyMaterialError: Error, CustomStringConvertible {
    let description: String

    /// The file's text, or the error naming it.
    static func read(_ path: String) throws(KeyMaterialError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyMaterialError(description: "cannot read \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
