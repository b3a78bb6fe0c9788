// `strawberry data stats DIR`: what a built dataset holds, read back from its files (and its
// split disjointness checked again on load).
import Foundation

public struct DatasetStats {
    public var itemsPerFile: [String: Int] = [:]
    public var itemsPerTaskAndStyle: [String: Int] = [:]
    /// Word length → distinct words, over validation + test.
    public var lengthHistogram: [Int: Int] = [:]
    /// Repeated letters → distinct words, over validation + test.
    public var repeatedLetterHistogram: [Int: Int] = [:]

    public static func read(_ dir: String) throws -> DatasetStats {
        let fm = FileManager.default
        guard fm.fileExists(atPath: dir + "/manifest.json") else {
            throw DatasetError.badInput("\(dir) is not a Strawberry dataset (no manifest.json); build one with `strawberry data build`")
        }
        var s = DatasetStats()
        var wordsBySplit: [String: Set<String>] = [:]
        let files = (try fm.subpathsOfDirectory(atPath: dir)).filter { $0.hasSuffix(".jsonl") }.sorted()
        var seenWords = Set<String>()
        for f in files {
            let text = try String(contentsOfFile: dir + "/" + f, encoding: .utf8)
            var n = 0
            for line in text.split(separator: "\n") {
                guard let rec = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let word = rec["word"] as? String, let split = rec["split"] as? String else {
                    throw DatasetError.badInput("\(dir)/\(f): a line is not a record with word and split")
                }
                n += 1
                wordsBySplit[split, default: []].insert(word)
                if let task = rec["task"] as? String, let style = rec["style"] as? String { s.itemsPerTaskAndStyle["\(task)/\(style)", default: 0] += 1 }
                if (split == "validation" || split == "test"), seenWords.insert(word).inserted {
                    s.lengthHistogram[word.count, default: 0] += 1
                    s.repeatedLetterHistogram[Letters.repeatedLetters(word), default: 0] += 1
                }
            }
            s.itemsPerFile[f] = n
        }
        let splits = wordsBySplit.keys.sorted()
        for (i, a) in splits.enumerated() {
            for b in splits[(i + 1)...] where !wordsBySplit[a]!.isDisjoint(with: wordsBySplit[b]!) {
                throw DatasetError.invariant("splits \(a) and \(b) share words, e.g. '\(wordsBySplit[a]!.intersection(wordsBySplit[b]!).sorted()[0])'")
            }
        }
        return s
    }

    public var json: [String: Any] {
        ["items_per_file": itemsPerFile, "items_per_task_and_style": itemsPerTaskAndStyle,
         "word_length_histogram": Dictionary(uniqueKeysWithValues: lengthHistogram.map { (String($0.key), $0.value) }),
         "repeated_letters_histogram": Dictionary(uniqueKeysWithValues: repeatedLetterHistogram.map { (String($0.key), $0.value) })]
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
