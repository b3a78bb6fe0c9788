// Codable → JSONValue. Records are encoded to a value tree first and then written by JSONText,
// so every file Strawberry writes has one spelling: sorted keys, exact integers, Python-style
// doubles. Optional fields follow Codable's rule (absent when nil) unless declared with
// `@ExplicitNull`, which writes `null` — the schema of a few files keeps such keys always present.

public struct RecordEncoder {
    let keys: JSONKeys
    public init(keys: JSONKeys = .asDeclared) { self.keys = keys }

    public func encode<T: Encodable>(_ value: T) throws(RecordError) -> JSONValue {
        do {
            let box = Box(snakeCase: keys == .snakeCase)
            try Self.encodeValue(value, into: box, path: [])
            return box.value
        } catch let e as RecordError {
            throw e
        } catch {
            throw RecordError.unrepresentable(reason: "\(error)")
        }
    }

    /// Values encode into a box that containers fill in later (Encoder's containers are handed out
    /// before their contents exist, so the tree is built by reference and frozen at the end).
    /// JSON has no NaN or infinity: refuse them, naming the field, before anything is written.
    static func number(_ d: Double, _ path: [CodingKey]) throws -> JSONValue {
        guard d.isFinite else {
            let field = path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
            throw RecordError.unrepresentable(reason: "a non-finite number (\(d)) in field '\(field)'")
        }
        return .double(d)
    }

    final class Box {
        enum Kind { case scalar, object, array }
        /// Property names become snake_case keys (`JSONKeys.snakeCase`); keys that carry data do not.
        let snakeCase: Bool
        init(snakeCase: Bool) { self.snakeCase = snakeCase }
        var kind = Kind.scalar
        var scalar = JSONValue.null
        var keys: [String] = []
        var children: [Box] = []
        var index: [String: Int] = [:]

        func set(_ v: JSONValue) { kind = .scalar; scalar = v }
        func child(_ key: String) -> Box {
            if let i = index[key] { return children[i] }
            let b = Box(snakeCase: snakeCase)
            index[key] = children.count
            keys.append(key)
            children.append(b)
            return b
        }
        func append() -> Box { let b = Box(snakeCase: snakeCase); children.append(b); return b }

        var value: JSONValue {
            switch kind {
            case .scalar: return scalar
            case .object: return .object(zip(keys, children).map { ($0, $1.value) })
            case .array: return .array(children.map(\.value))
            }
        }
    }

    static func encodeValue<T: Encodable>(_ value: T, into box: Box, path: [CodingKey]) throws {
        if let j = value as? JSONValue { box.set(j); return }
        if let d = value as? Double { try box.set(number(d, path)); return }
        if let f = value as? Float { try box.set(number(Double(f), path)); return }
        try value.encode(to: Impl(box: box, codingPath: path))
    }

    struct Impl: Encoder {
        let box: Box
        var codingPath: [CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy: Key.Type) -> KeyedEncodingContainer<Key> {
            if box.kind != .object { box.kind = .object; box.keys = []; box.children = []; box.index = [:] }
            return KeyedEncodingContainer(Keyed<Key>(box: box, codingPath: codingPath))
        }
        func unkeyedContainer() -> UnkeyedEncodingContainer {
            if box.kind != .array { box.kind = .array; box.children = [] }
            return Unkeyed(box: box, codingPath: codingPath)
        }
        func singleValueContainer() -> SingleValueEncodingContainer { Single(box: box, codingPath: codingPath) }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let box: Box
        var codingPath: [CodingKey]

        /// Dictionaries' keys and `DynamicKey`s are data, written as they are.
        static var isDataKey: Bool { Key.self == DynamicKey.self || "\(Key.self)".hasPrefix("_Dictionary") }
        func child(_ key: Key) -> Box {
            box.child(box.snakeCase && !Self.isDataKey ? JSONKeys.snakeCased(key.stringValue) : key.stringValue)
        }
        mutating func encodeNil(forKey key: Key) throws { child(key).set(.null) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try RecordEncoder.encodeValue(value, into: child(key), path: codingPath + [key])
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            Impl(box: child(key), codingPath: codingPath + [key]).container(keyedBy: NestedKey.self)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
            Impl(box: child(key), codingPath: codingPath + [key]).unkeyedContainer()
        }
        mutating func superEncoder() -> Encoder { Impl(box: box, codingPath: codingPath) }
        mutating func superEncoder(forKey key: Key) -> Encoder { Impl(box: child(key), codingPath: codingPath + [key]) }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let box: Box
        var codingPath: [CodingKey]
        var count: Int { box.children.count }

        func next() -> Box { box.append() }
        var indexPath: [CodingKey] { codingPath + [IndexKey(intValue: count)] }
        mutating func encodeNil() throws { next().set(.null) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            let path = indexPath
            try RecordEncoder.encodeValue(value, into: next(), path: path)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            Impl(box: next(), codingPath: codingPath).container(keyedBy: NestedKey.self)
        }
        mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer { Impl(box: next(), codingPath: codingPath).unkeyedContainer() }
        mutating func superEncoder() -> Encoder { Impl(box: next(), codingPath: codingPath) }
    }

    struct Single: SingleValueEncodingContainer {
        let box: Box
        var codingPath: [CodingKey]
        mutating func encodeNil() throws { box.set(.null) }
        mutating func encode(_ value: Bool) throws { box.set(.bool(value)) }
        mutating func encode(_ value: String) throws { box.set(.string(value)) }
        mutating func encode(_ value: Double) throws { box.set(try RecordEncoder.number(value, codingPath)) }
        mutating func encode(_ value: Float) throws { box.set(try RecordEncoder.number(Double(value), codingPath)) }
        mutating func encode(_ value: Int) throws { box.set(.int(value)) }
        mutating func encode(_ value: Int8) throws { box.set(.int(Int(value))) }
        mutating func encode(_ value: Int16) throws { box.set(.int(Int(value))) }
        mutating func encode(_ value: Int32) throws { box.set(.int(Int(value))) }
        mutating func encode(_ value: Int64) throws { box.set(.int(Int(value))) }
        mutating func encode(_ value: UInt) throws { try encode(UInt64(value)) }
        mutating func encode(_ value: UInt8) throws { box.set(.int(Int(value))) }
        mutating func encode(_ value: UInt16) throws { box.set(.int(Int(value))) }
        mutating func encode(_ value: UInt32) throws { box.set(.int(Int(value))) }
        mutating func encode(_ value: UInt64) throws {
            box.set(value <= UInt64(Int.max) ? .int(Int(value)) : .uint(value))
        }
        mutating func encode<T: Encodable>(_ value: T) throws { try RecordEncoder.encodeValue(value, into: box, path: codingPath) }
    }
}

/// An optional field written as `null` when absent (instead of being left out), and read back
/// from either `null` or a missing key.
@propertyWrapper
public struct ExplicitNull<T: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
    public var wrappedValue: T?
    public init(wrappedValue: T?) { self.wrappedValue = wrappedValue }
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        wrappedValue = c.decodeNil() ? nil : try c.decode(T.self)
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let wrappedValue { try c.encode(wrappedValue) } else { try c.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// A missing key reads as nil for `@ExplicitNull` fields.
    public func decode<T>(_ type: ExplicitNull<T>.Type, forKey key: Key) throws -> ExplicitNull<T> {
        try decodeIfPresent(type, forKey: key) ?? ExplicitNull(wrappedValue: nil)
    }
}

/// The position of an element in a list, as a coding key (for error messages).
struct IndexKey: CodingKey {
    var stringValue: String { "\(intValue ?? 0)" }
    var intValue: Int?
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}

/// A coding key made at run time, for records whose key names carry data (per-group tables).
public struct DynamicKey: CodingKey, Hashable {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(_ s: String) { stringValue = s }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}
