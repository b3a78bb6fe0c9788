// Reading a dataset config from YAML (unknown keys are errors) and checking its values.
import ConfigFiles
import Foundation
import Records
import Yams

extension DatasetConfig {
    /// Reads a YAML config file; unknown keys are an error (a typo should not be silently ignored).
    public static func load(yamlPath: String) throws -> DatasetConfig {
        guard let text = try? String(contentsOfFile: yamlPath, encoding: .utf8) else {
            throw DatasetError.unreadable(path: yamlPath, hint: "configs/dataset.yaml is an example config")
        }
        do {
            guard let node = try BoundedYAML.compose(text, maxNodes: 100_000, maxDepth: 16) else { return DatasetConfig() }
            guard let top = node.mapping else { throw DatasetError.badConfig(path: yamlPath, reason: "the top level must be a mapping of keys to values") }
            let unknown = unknownKeys(node)
            if !unknown.isEmpty { throw DatasetError.unknownKeys(path: yamlPath, keys: unknown) }
            return try YAMLDecoder().decode(DatasetConfig.self, from: node)
        } catch let e as DatasetError { throw e } catch {
            throw DatasetError.badConfig(path: yamlPath, reason: "\(error)")
        }
    }

    /// The keys of a dataset config mapping this schema does not know (top level and `joins`), sorted.
    public static func unknownKeys(_ node: Node) -> [String] {
        guard let top = node.mapping else { return [] }
        var bad: [String] = top.keys.map { $0.string ?? "\($0)" }.filter { CodingKeys(rawValue: $0) == nil }
        if let joins = top["joins"]?.mapping {
            bad += Array(joins.keys).map { $0.string ?? "\($0)" }.filter { !["share", "min_tokens", "max_tokens"].contains($0) }.map { "joins." + $0 }
        }
        return bad.sorted()
    }

    /// Checks every value before anything is sized from it.
    public func validate() throws(DatasetError) {
        func need(_ ok: Bool, _ key: String, _ value: Any, _ expected: String) throws(DatasetError) {
            if !ok { throw .badValue(key: key, value: "\(value)", expected: expected) }
        }
        try need((2...1000).contains(minTokenLength), "min_token_length", minTokenLength, "an integer in 2...1000")
        try need((minTokenLength...1000).contains(maxTokenLength), "max_token_length", maxTokenLength, "an integer in min_token_length...1000")
        try need((1...1000).contains(wordMinLength), "word_min_length", wordMinLength, "an integer in 1...1000")
        try need((wordMinLength...1000).contains(wordMaxLength), "word_max_length", wordMaxLength, "an integer in word_min_length...1000")
        try need((0...10_000_000).contains(validationSize), "validation_size", validationSize, "an integer in 0...10000000")
        try need((0...10_000_000).contains(testSize), "test_size", testSize, "an integer in 0...10000000")
        try need((0..<1).contains(heldoutVocabFraction), "heldout_vocab_fraction", heldoutVocabFraction, "a number in [0, 1)")
        try need((1...1000).contains(examplesPerToken), "examples_per_token", examplesPerToken, "an integer in 1...1000")
        try need((0...1).contains(countAbsentFraction), "count_absent_fraction", countAbsentFraction, "a number in [0, 1]")
        try need((0...1).contains(positionLastFraction), "position_last_fraction", positionLastFraction, "a number in [0, 1]")
        if let j = joins {
            try need((0...0.9).contains(j.share), "joins.share", j.share, "a number in [0, 0.9]")
            try need((2...8).contains(j.minTokens), "joins.min_tokens", j.minTokens, "an integer in 2...8")
            try need((j.minTokens...8).contains(j.maxTokens), "joins.max_tokens", j.maxTokens, "an integer in min_tokens...8")
        }
        try need(!templates.isEmpty, "templates", "[]", "at least one spelling template")
        try need(Set(templates.map(\.name)).count == templates.count, "templates", templates.map(\.name), "unique names")
        for t in templates where !t.completion.contains("{spelling}") || !t.prompt.contains("{word}") {
            throw .badValue(key: "templates.\(t.name)", value: t.prompt, expected: "{word} in the prompt and {spelling} in the completion")
        }
    }
}

/// What can stop a dataset build or read; each case names the file, key or value and what to do.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, hint: String)
    case unknownKeys(path: String, keys: [String])
    case badConfig(path: String, reason: String)
    case badValue(key: String, value: String, expected: String)
    /// Filtering left nothing to build from.
    case nothingLeft(String)
    case outputExists(path: String)
    case notADataset(path: String)
    case splitsOverlap(String, String, example: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let p, let h): return "cannot read \(p); \(h)"
        case .unknownKeys(let p, let k): return "\(p): unknown keys \(k.joined(separator: ", ")) (see configs/dataset.yaml for the accepted keys)"
        case .badConfig(let p, let r): return "\(p): not a valid dataset config: \(r)"
        case .badValue(let k, let v, let e): return "config \(k) = \(v): expected \(e)"
        case .nothingLeft(let r): return r
        case .outputExists(let p):
            return "\(p) already exists; pass --overwrite to replace it (only a dataset made by `strawberry data build` is ever replaced)"
        case .notADataset(let p): return "\(p) is not a Strawberry dataset (no manifest.json); build one with `strawberry data build`"
        case .splitsOverlap(let a, let b, let w): return "internal check failed: splits \(a) and \(b) share words, e.g. '\(w)'"
        case .io(let p, let r): return "\(p): \(r)"
        }
    }
}
