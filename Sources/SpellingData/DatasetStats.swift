// `strawberry data stats DIR`: what a built dataset holds, read back from its files (and its
// split disjointness checked again on load).
import Foundation
import Hashing
import ModelFormats
import Records

public struct DatasetStats: Codable, Equatable, Sendable {
    public var itemsPerFile: [String: Int] = [:]
    public var itemsPerTaskAndStyle: [String: Int] = [:]
    /// Word length → distinct words, over validation + test.
    public var lengthHistogram: [Int: Int] = [:]
    /// Repeated letters → distinct words, over validation + test.
    public var repeatedLetterHistogram: [Int: Int] = [:]

    enum CodingKeys: String, CodingKey {
        case itemsPerFile = "items_per_file", itemsPerTaskAndStyle = "items_per_task_and_style"
        case lengthHistogram = "word_length_histogram", repeatedLetterHistogram = "repeated_letters_histogram"
    }

    public init() {}

    // Histograms are JSON objects keyed by the number as text.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        itemsPerFile = try c.decode([String: Int].self, forKey: .itemsPerFile)
        itemsPerTaskAndStyle = try c.decode([String: Int].self, forKey: .itemsPerTaskAndStyle)
        func ints(_ d: [String: Int]) -> [Int: Int] { Dictionary(d.compactMap { k, v in Int(k).map { ($0, v) } }, uniquingKeysWith: +) }
        lengthHistogram = ints(try c.decode([String: Int].self, forKey: .lengthHistogram))
        repeatedLetterHistogram = ints(try c.decode([String: Int].self, forKey: .repeatedLetterHistogram))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        func strings(_ d: [Int: Int]) -> [String: Int] { Dictionary(uniqueKeysWithValues: d.map { (String($0.key), $0.value) }) }
        try c.encode(itemsPerFile, forKey: .itemsPerFile)
        try c.encode(itemsPerTaskAndStyle, forKey: .itemsPerTaskAndStyle)
        try c.encode(strings(lengthHistogram), forKey: .lengthHistogram)
        try c.encode(strings(repeatedLetterHistogram), forKey: .repeatedLetterHistogram)
    }

    public static func read(_ dir: String, verify: Bool = true) throws -> DatasetStats {
        let fm = FileManager.default
        guard fm.fileExists(atPath: dir + "/manifest.json") else { throw DatasetError.notADataset(path: dir) }
        // Reading the manifest checks it is one; verifying checks every file it lists is there, unchanged.
        _ = verify ? try DatasetManifest.verified(dir: dir, hash: { try Checksum.sha256(file: $0) })
                   : try RecordFile.read(DatasetManifest.self, from: dir + "/manifest.json")
        var s = DatasetStats()
        var wordsBySplit: [String: Set<String>] = [:]
        // lm_eval/ holds copies of the evaluation questions in the harness's format, not records of its own.
        let files = ((try? fm.subpathsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".jsonl") && !$0.hasPrefix("lm_eval/") }.sorted()
        var seenWords = Set<String>()
        for f in files {
            let lines = try RecordFile.readLines(DatasetLine.self, from: dir + "/" + f)
            for rec in lines {
                wordsBySplit[rec.split, default: []].insert(rec.word)
                if let task = rec.task, let style = rec.style { s.itemsPerTaskAndStyle["\(task)/\(style)", default: 0] += 1 }
                if rec.split == "validation" || rec.split == "test", seenWords.insert(rec.word).inserted {
                    s.lengthHistogram[rec.word.count, default: 0] += 1
                    s.repeatedLetterHistogram[Letters.repeatedLetters(rec.word), default: 0] += 1
                }
            }
            s.itemsPerFile[f] = lines.count
        }
        let splits = wordsBySplit.keys.sorted()
        for (i, a) in splits.enumerated() {
            for b in splits[(i + 1)...] {
                let shared = (wordsBySplit[a] ?? []).intersection(wordsBySplit[b] ?? [])
                if let example = shared.sorted().first { throw DatasetError.splitsOverlap(a, b, example: example) }
            }
        }
        return s
    }

    public var text: String {
        var lines = ["items per file:"]
        for (f, n) in itemsPerFile.sorted(by: { $0.key < $1.key }) { lines.append("  \(f.padding(toLength: 40, withPad: " ", startingAt: 0)) \(n)") }
        lines.append("evaluation items per task/style:")
        for (k, n) in itemsPerTaskAndStyle.sorted(by: { $0.key < $1.key }) { lines.append("  \(k.padding(toLength: 40, withPad: " ", startingAt: 0)) \(n)") }
        func histogram(_ title: String, _ h: [Int: Int]) {
            lines.append(title)
            let top = max(h.values.max() ?? 1, 1)
            for (k, v) in h.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(String(k).padding(toLength: 4, withPad: " ", startingAt: 0)) \(String(repeating: "█", count: max(1, v * 40 / top))) \(v)")
            }
        }
        histogram("validation+test words by length:", lengthHistogram)
        histogram("validation+test words by repeated letters:", repeatedLetterHistogram)
        return lines.joined(separator: "\n")
    }
}
