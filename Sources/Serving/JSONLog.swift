// One JSON object per log line on standard error (swift-log has no built-in JSON handler): time,
// level, label, message, and the metadata (request_id, route, status, latency_ms, task_type, …).
import Foundation
import Logging
import Records

public struct JSONLogHandler: LogHandler {
    let label: String
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let write: @Sendable (Data) -> Void

    public init(label: String, level: Logger.Level, write: @escaping @Sendable (Data) -> Void = { FileHandle.standardError.write($0) }) {
        self.label = label
        logLevel = level
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var m = metadata
        if let p = metadataProvider?.get() { m.merge(p) { $1 } }
        if let e = event.metadata { m.merge(e) { $1 } }
        var fields = m.mapValues(Self.value)
        fields["time"] = .string(Date().formatted(.iso8601))
        fields["level"] = .string(event.level.rawValue)
        fields["label"] = .string(label)
        fields["message"] = .string(event.message.description)
        guard let line = try? JSONText.string(.object(fields.map { ($0.key, $0.value) })) else { return }
        write(Data((line + "\n").utf8))
    }

    static func value(_ v: Logger.MetadataValue) -> JSONValue {
        switch v {
        case .string(let s): return .string(s)
        case .stringConvertible(let c):
            if let n = c as? Int { return .int(n) }
            if let x = c as? Double, x.isFinite { return .double(x) }
            return .string(c.description)
        case .array(let a): return .array(a.map(value))
        case .dictionary(let d): return .object(d.map { ($0.key, value($0.value)) })
        }
    }
}
