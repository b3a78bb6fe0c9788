// `strawberry data build`: tokenizer vocabulary + word list + config → a dataset directory.
// Everything is written into a temporary sibling directory and renamed into place at the end,
// so an interrupted build never leaves a half-written dataset.
import Foundation
import Hashing
import ModelFormats
import Records
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

public struct BuildSummary: Sendable {
    public let manifest: DatasetManifest
    public let outDir: String
    public let seconds: Double
    public var lines: [String] {
        var l = manifest.extraction.map { "  \($0.step.padding(toLength: 52, withPad: " ", startingAt: 0)) \($0.remaining)" }
        l.insert("vocabulary extraction:", at: 0)
        l.append("splits: " + manifest.counts.keys.sorted().map { "\($0)=\(manifest.count($0))" }.joined(separator: ", "))
        if let d = manifest.decontamination { l.append("decontamination: removed \(d.removedFromTrain) training tokens found in the --exclude list") }
        l.append(String(format: "built %@ in %.2f s", outDir, seconds))
        return l
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
            throw DatasetError.nothingLeft("no vocabulary tokens are left after filtering (\(report.steps.map { "\($0.0): \($0.1)" }.joined(separator: "; "))); loosen min/max_token_length or english_only")
        }
        let words = try readWordList(req.wordsPath)
        let exclude = try req.excludePath.map { Set(try readWordList($0).map { $0.lowercased() }) } ?? []
        let splits = try SplitMaker.make(tokens: tokens, words: words, exclude: exclude, config: c)
        if (c.validationSize > 0 && splits.validation.isEmpty) || (c.testSize > 0 && splits.test.isEmpty) {
            throw DatasetError.nothingLeft("\(req.wordsPath) gives no validation/test words: none of its \(words.count) entries is a lower-case a–z word of \(c.wordMinLength)–\(c.wordMaxLength) letters that is not a vocabulary token (\(splits.candidateWords) candidates)")
        }

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
        // File name → its JSONL text and its item count.
        var files: [String: (text: String, count: Int)] = [:]
        func add<T: Encodable>(_ name: String, _ recs: [T]) throws { files[name] = (try RecordFile.lines(recs), recs.count) }
        try add("heldout_vocab.jsonl", heldout)
        var harness: [String: [EvalTask: [Question]]] = [:]
        for (split, ws) in [("validation", splits.validation), ("test", splits.test)] {
            try add("\(split).jsonl", ws.flatMap { factory.spellingExamples($0, k: 1, split: split, source: "dictionary", ids: nil, rng: &rng) })
            var byFile: [String: [Question]] = [:]
            for w in ws {
                for (task, styles) in factory.questions(w, split: split, rng: &rng) {
                    for (style, rec) in styles { byFile["eval/\(task.rawValue)_\(style.rawValue)_\(split).jsonl", default: []].append(rec) }
                }
            }
            for (name, var recs) in byFile {
                for i in recs.indices { recs[i].id = "\(split)-\(recs[i].task)-\(recs[i].style)-\(i)" }
                try add(name, recs)
                if let first = recs.first, first.style == PromptStyle.direct.rawValue, let task = EvalTask(rawValue: first.task) {
                    harness[split, default: [:]][task] = recs
                }
            }
        }
        for (name, text) in try HarnessExport.files(harness) { files[name] = (text, text.split(separator: "\n").count) }
        // The arm's training split, from streams of its own (the evaluation questions above are the same in every arm).
        var armCounts: [String: Int] = [:]
        var extra: [SpellingExample] = []
        if let j = c.joins, j.share > 0 {
            var jrng = SplitMix64(seed: c.seed &+ 2)
            let dictionary = Set(words.map { $0.lowercased() })
            let forbidden = dictionary.union(tokens.map(\.text)).union(splits.validation).union(splits.test)
            let wanted = Int((Double(train.count) * j.share / (1 - j.share)).rounded())
            let joined = ArmBuilder.joins(from: splits.train, count: wanted, config: c, joins: j, forbidden: forbidden, rng: &jrng)
            let evaluated = Set(splits.validation).union(splits.test)
            if let bad = joined.first(where: { evaluated.contains($0.text) || dictionary.contains($0.text) }) {
                throw DatasetError.splitsOverlap("train (joins)", "dictionary/validation/test", example: bad.text)
            }
            extra += joined.flatMap {
                factory.spellingExamples($0.text, k: 1, split: "train", source: "join", ids: $0.ids, rng: &jrng)
            }
            armCounts["train_joins"] = joined.count
        }
        if c.arm == .positive {
            var qrng = SplitMix64(seed: c.seed &+ 3)
            let qs = ArmBuilder.questions(splits.train, factory: factory, rng: &qrng)
            extra += qs
            armCounts["train_questions"] = qs.count
        }
        if !extra.isEmpty {
            var srng = SplitMix64(seed: c.seed &+ 4)
            train += extra
            train.seededShuffle(&srng)
        }
        if c.arm == .control {
            let byName = Dictionary(c.templates.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let k = ArmBuilder.controlRepeats(train, templates: byName, tokenizer: tokenizer)
            for i in train.indices { train[i].completion = ArmBuilder.controlCompletion(train[i], repeats: k, templates: byName) }
            armCounts["control_repeats"] = k
        }
        try add("train.jsonl", train)

        // Staged in a temporary sibling and renamed into place; only a dataset this command made
        // (it has manifest.json) is ever replaced, and only with --overwrite.
        let inputs = [req.tokenizerPath, req.wordsPath] + (req.excludePath.map { [$0] } ?? [])
        let dir: OutputDirectory
        do { dir = try OutputDirectory.begin(req.outDir, kind: .dataset, replace: req.overwrite, inputs: inputs) } catch {
            if case .refusedOutput(_, let reason) = error, reason.hasPrefix("already holds") { throw DatasetError.outputExists(path: req.outDir) }
            throw error
        }
        let out = dir.path, tmp = dir.staging
        return try dir.fill {
            try FileManager.default.createDirectory(atPath: tmp + "/eval", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: tmp + "/lm_eval", withIntermediateDirectories: true)
            var hashes: [String: String] = [:]
            for (name, file) in files {
                let bytes = Array(file.text.utf8)
                try writeAtomically(bytes, to: tmp + "/" + name)
                hashes[name] = Checksum.sha256(bytes)
            }
            var counts: [String: Int] = ["train_tokens": splits.train.count, "heldout_vocab_tokens": splits.heldoutVocab.count,
                                         "validation_words": splits.validation.count, "test_words": splits.test.count,
                                         "candidate_dictionary_words": splits.candidateWords]
            for (name, file) in files where name.hasSuffix(".jsonl") && !name.hasPrefix("lm_eval/") { counts[name.replacingOccurrences(of: ".jsonl", with: "")] = file.count }
            counts.merge(armCounts) { a, _ in a }
            let decontamination = try req.excludePath.map {
                Decontamination(excludeFile: ($0 as NSString).lastPathComponent, excludeSHA256: try Checksum.sha256(file: $0),
                                excludedWords: exclude.count, removedFromTrain: splits.decontaminated.count)
            }
            let manifest = DatasetManifest(
                formatVersion: formatVersion, seed: c.seed, englishOnly: englishOnly, config: c, counts: counts,
                extraction: report.steps.map { ExtractionStep($0.0, $0.1) },
                tokenizer: try tokenizerIdentity(req.tokenizerPath, tokenizer),
                words: WordListIdentity(file: (req.wordsPath as NSString).lastPathComponent, sha256: try Checksum.sha256(file: req.wordsPath), entries: words.count),
                files: hashes, decontamination: decontamination)
            let card = DatasetCard.render(manifest: manifest, files: files.keys.sorted(), config: c)
            try writeAtomically(Array(card.utf8), to: tmp + "/README.md")
            try RecordFile.write(manifest, to: tmp + "/manifest.json")
            return BuildSummary(manifest: manifest, outDir: out, seconds: Date().timeIntervalSince(t0))
        }
    }

    public static func readWordList(_ path: String) throws -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            if !FileManager.default.fileExists(atPath: path) {
                throw DatasetError.unreadable(path: path, hint: "install Debian's wamerican (`make` does) or pass --words FILE")
            }
            throw DatasetError.unreadable(path: path, hint: "the word list must be UTF-8 text, one word per line")
        }
        let body = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text   // a byte-order mark is not a word
        return body.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func tokenizerIdentity(_ path: String, _ t: Tokenizer) throws -> TokenizerIdentity {
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
        let combined = try files.map { try Checksum.sha256(file: $0) }.joined(separator: "\n")
        return TokenizerIdentity(source: files.map { ($0 as NSString).lastPathComponent }, sha256: Checksum.sha256(Array(combined.utf8)),
                                 vocabularySize: t.vocabularySize, preTokenizer: t.preTokenizer.rawValue)
    }
}
