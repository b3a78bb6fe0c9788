// `strawberry data build`: tokenizer vocabulary + word list + config → a dataset directory.
// Everything is written into a temporary sibling directory and renamed into place at the end,
// so an interrupted build never leaves a half-written dataset.
import Foundation
import ModelFormats
import TensorCore
import Tokenization

public struct BuildRequest: Sendable {
    public var tokenizerPath: String
    public var wordsPath: String = "/usr/share/dict/words"
    public var excludePath: String?
    public var outDir: String
    public var config = DatasetConfig()
    public var overwrite = false

    public init(tokenizerPath: String, outDir: String) {
        self.tokenizerPath = tokenizerPath
        self.outDir = outDir
    }
}

public struct BuildSummary {
    public let manifest: [String: Any]
    public let outDir: String
    public let seconds: Double
    public var lines: [String] {
        let counts = manifest["counts"] as! [String: Int]
        var l = (manifest["extraction"] as! [[Any]]).map { "  \(String(describing: $0[0]).padding(toLength: 52, withPad: " ", startingAt: 0)) \($0[1])" }
        l.insert("vocabulary extraction:", at: 0)
        l.append("splits: " + counts.keys.sorted().map { "\($0)=\(counts[$0]!)" }.joined(separator: ", "))
        if let d = manifest["decontamination"] as? [String: Any] { l.append("decontamination: removed \(d["removed_from_train"]!) training tokens found in the --exclude list") }
        l.append(String(format: "built %@ in %.2f s", outDir, seconds))
        return l
    }
    public init(manifest: [String: Any], outDir: String, seconds: Double) {
        self.manifest = manifest
        self.outDir = outDir
        self.seconds = seconds
    }
}

public enum DatasetBuilder {
    public static let formatVersion = 1

    public static func build(_ req: BuildRequest) throws -> BuildSummary {
        let t0 = Date()
        let c = req.config
        try c.validate()
        let tokenizer = try Tokenizer.load(path: req.tokenizerPath)
        let englishOnly = c.englishOnly ?? (tokenizer.vocabularySize > 100_000 || tokenizer.preTokenizer == .qwen2)
        let (tokens, report) = VocabularyExtraction.extract(tokenizer, minLength: c.minTokenLength, maxLength: c.maxTokenLength, englishOnly: englishOnly)
        guard !tokens.isEmpty else {
            throw DatasetError.badInput("no vocabulary tokens are left after filtering (\(report.steps.map { "\($0.0): \($0.1)" }.joined(separator: "; "))); loosen min/max_token_length or english_only")
        }
        let words = try readWordList(req.wordsPath)
        let exclude = try req.excludePath.map { Set(try readWordList($0).map { $0.lowercased() }) } ?? []
        let splits = try SplitMaker.make(tokens: tokens, words: words, exclude: exclude, config: c)

        // Records.
        var rng = SplitMix64(seed: c.seed &+ 1)
        let factory = ItemFactory(config: c, tokenizer: tokenizer)
        var train = splits.train.flatMap {
            factory.spellingExamples($0.text, k: min(c.examplesPerToken, c.templates.count), split: "train", source: "vocabulary",
                                     ids: $0.sourceIds, rng: &rng)
        }
        train.seededShuffle(&rng)
        let heldout = splits.heldoutVocab.flatMap {
            factory.spellingExamples($0.text, k: 1, split: "heldout_vocab", source: "vocabulary", ids: $0.sourceIds, rng: &rng)
        }
        var files: [String: [Record]] = ["train.jsonl": train, "heldout_vocab.jsonl": heldout]
        for (split, ws) in [("validation", splits.validation), ("test", splits.test)] {
            files["\(split).jsonl"] = ws.flatMap { factory.spellingExamples($0, k: 1, split: split, source: "dictionary", ids: nil, rng: &rng) }
            var byFile: [String: [Record]] = [:]
            for w in ws {
                for (task, styles) in factory.questions(w, split: split, rng: &rng) {
                    for (style, rec) in styles { byFile["eval/\(task.rawValue)_\(style.rawValue)_\(split).jsonl", default: []].append(rec) }
                }
            }
            for (name, var recs) in byFile {
                for i in recs.indices { recs[i]["id"] = "\(split)-\(recs[i]["task"]!)-\(recs[i]["style"]!)-\(i)" }
                files[name] = recs
            }
        }

        // Write into a temporary directory, then move into place.
        let fm = FileManager.default
        let out = URL(fileURLWithPath: req.outDir).standardizedFileURL.path
        if fm.fileExists(atPath: out) && !req.overwrite {
            throw DatasetError.badInput("\(out) already exists; pass --overwrite to replace it")
        }
        let tmp = out + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        try? fm.removeItem(atPath: tmp)
        do { try fm.createDirectory(atPath: tmp + "/eval", withIntermediateDirectories: true) } catch {
            throw DatasetError.io("cannot create \(tmp): \(error.localizedDescription). Is the parent directory writable?")
        }
        do {
            var hashes: [String: String] = [:]
            for name in files.keys.sorted() {
                let bytes = try jsonLines(files[name]!)
                try writeAtomically(bytes, to: tmp + "/" + name)
                hashes[name] = SHA256.hex(bytes)
            }
            var counts: [String: Int] = ["train_tokens": splits.train.count, "heldout_vocab_tokens": splits.heldoutVocab.count,
                                         "validation_words": splits.validation.count, "test_words": splits.test.count,
                                         "candidate_dictionary_words": splits.candidateWords]
            for (name, recs) in files { counts[name.replacingOccurrences(of: ".jsonl", with: "")] = recs.count }
            var manifest: [String: Any] = [
                "format_version": formatVersion, "seed": c.seed, "english_only": englishOnly,
                "config": try configJSON(c), "counts": counts,
                "extraction": report.steps.map { [$0.0, $0.1] as [Any] },
                "tokenizer": try tokenizerIdentity(req.tokenizerPath, tokenizer),
                "words": ["file": (req.wordsPath as NSString).lastPathComponent, "sha256": try SHA256.hex(file: req.wordsPath),
                          "entries": words.count],
                "files": hashes,
            ]
            if let ex = req.excludePath {
                manifest["decontamination"] = ["exclude_file": (ex as NSString).lastPathComponent, "exclude_sha256": try SHA256.hex(file: ex),
                                               "excluded_words": exclude.count, "removed_from_train": splits.decontaminated.count]
            }
            let card = DatasetCard.render(manifest: manifest, files: files.keys.sorted(), config: c)
            try writeAtomically(Array(card.utf8), to: tmp + "/README.md")
            try writeAtomically(try jsonBytes(manifest, pretty: true), to: tmp + "/manifest.json")
            try replaceDirectory(out, with: tmp, overwrite: req.overwrite)
            return BuildSummary(manifest: manifest, outDir: out, seconds: Date().timeIntervalSince(t0))
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw error
        }
    }

    public static func readWordList(_ path: String) throws -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            if !FileManager.default.fileExists(atPath: path) {
                throw DatasetError.badInput("word list \(path) not found; install Debian's wamerican (`make` does) or pass --words FILE")
            }
            throw DatasetError.badInput("word list \(path) is not readable UTF-8 text")
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func tokenizerIdentity(_ path: String, _ t: Tokenizer) throws -> [String: Any] {
        var files: [String] = []
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            for name in ["encoder.json", "vocab.bpe", "tokenizer.json"] where fileExists(path + "/" + name) { files.append(path + "/" + name) }
        } else if path.hasSuffix("encoder.json") {
            files = [path, String(path.dropLast("encoder.json".count)) + "vocab.bpe"]
        } else {
            files = [path]
        }
        // One digest over the per-file digests, so a directory of several files has one identity.
        let combined = try files.map { try SHA256.hex(file: $0) }.joined(separator: "\n")
        return ["source": files.map { ($0 as NSString).lastPathComponent }, "sha256": SHA256.hex(Array(combined.utf8)),
                "vocabulary_size": t.vocabularySize, "pre_tokenizer": t.preTokenizer.rawValue]
    }

    static func configJSON(_ c: DatasetConfig) throws -> Any {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return try JSONSerialization.jsonObject(with: e.encode(c))
    }

    /// Moves `tmp` to `out`; an existing `out` is set aside first and removed only after the move.
    static func replaceDirectory(_ out: String, with tmp: String, overwrite: Bool) throws {
        let fm = FileManager.default
        let old = out + ".old-\(ProcessInfo.processInfo.processIdentifier)"
        if fm.fileExists(atPath: out) { try fm.moveItem(atPath: out, toPath: old) }
        do { try fm.moveItem(atPath: tmp, toPath: out) } catch {
            if fm.fileExists(atPath: old) { try? fm.moveItem(atPath: old, toPath: out) }
            throw DatasetError.io("cannot move the finished dataset into \(out): \(error.localizedDescription)")
        }
        try? fm.removeItem(atPath: old)
    }
}

/// One JSON object per line, keys sorted: the same records always give the same bytes.
public func jsonLines(_ records: [Record]) throws -> [UInt8] {
    var out = ""
    for r in records { out += try JSONWriter.string(r) + "\n" }
    return Array(out.utf8)
}

public func jsonBytes(_ object: Any, pretty: Bool) throws -> [UInt8] {
    Array((try JSONWriter.string(object, pretty: pretty) + (pretty ? "\n" : "")).utf8)
}
