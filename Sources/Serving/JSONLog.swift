// One JSON object per log line on standard error (swift-log has no built-in JSON handler): time,
// level, label, message, and the metadata (request_id, route, status, latency_ms, task_type, …).
import Foundation
import Logging

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
        var o: [String: Any] = ["time": Date().formatted(.iso8601), "level": event.level.rawValue, "label": label,
                                "message": event.message.description]
        for (k, v) in m { o[k] = Self.value(v) }
        guard var d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        d.append(0x0A)
        write(d)
    }

    static func value(_ v: Logger.MetadataValue) -> Any {
        switch v {
        case .string(let s): return s
        case .stringConvertible(let c):
            if let n = c as? Int { return n }
            if let x = c as? Double, x.isFinite { return x }
            return c.description
        case .array(let a): return a.map(value)
        case .dictionary(let d): return d.mapValues(value)
        }
    }
}
