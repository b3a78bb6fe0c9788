// Typed errors for reading and writing model files. Every case names the file and says what
// is wrong and what to try, because the person reading it usually did not write the file.

public enum ModelFormatError: Error, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    case io(path: String, reason: String)
    /// The bytes do not form a valid file of the format.
    case malformed(path: String, format: String, reason: String)
    /// Valid file, but it uses something Strawberry does not read (a dtype, a quant type, a version).
    case unsupported(path: String, format: String, reason: String)
    case tensorNotFound(path: String, name: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "\(path): no such file. Check the path, or run scripts/fetch-assets.sh for the default model."
        case .io(let path, let reason):
            return "\(path): \(reason)"
        case .malformed(let path, let format, let reason):
            return "\(path): not a valid \(format) file: \(reason). The file may be truncated or corrupt; download or convert it again."
        case .unsupported(let path, let format, let reason):
            return "\(path): unsupported \(format) content: \(reason)."
        case .tensorNotFound(let path, let name):
            return "\(path): no tensor named '\(name)'."
        }
    }
}
