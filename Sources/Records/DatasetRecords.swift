// The files of a spelling dataset (`strawberry data build`):
//   train.jsonl, validation.jsonl, test.jsonl, heldout_vocab.jsonl   SpellingExample per line
//   eval/{task}_{style}_{split}.jsonl                                 Question per line
//   manifest.json                                                     DatasetManifest

/// One spelling example: prompt and completion kept apart so training can mask the prompt.
public struct SpellingExample: Codable, Equatable, Sendable {
    public var word: String
    public var prompt: String
    public var completion: String
    /// The template family's name.
    public var template: String
    public var task = "spelling"
    public var split: String
    /// "vocabulary" (a token of the model's vocabulary) or "dictionary" (a word-list entry).
    public var source: String
    /// The vocabulary ids the word came from; empty for dictionary words (every split shares one schema).
    public var sourceTokenIds: [Int]

    enum CodingKeys: String, CodingKey {
        case word, prompt, completion, template, task, split, source, sourceTokenIds = "source_token_ids"
    }

    public init(word: String, prompt: String, completion: String, template: String, split: String, source: String, sourceTokenIds: [Int]) {
        self.word = word
        self.prompt = prompt
        self.completion = completion
        self.template = template
        self.split = split
        self.source = source
        self.sourceTokenIds = sourceTokenIds
    }
}

/// Facts about a question's word that evaluation stratifies by. Also the `metadata` of an
/// evaluation item; an external question set may carry other fields, kept in `other`.
public struct QuestionFacts: Codable, Equatable, Sendable {
    public var word: String?
    public var wordLength: Int?
    /// Tokens the word takes in the model's tokenizer, quoted as in the prompt.
    public var wordTokens: Int?
    /// Distinct letters occurring more than once.
    public var repeatedLetters: Int?
    /// Count questions: the letter asked about, and whether the word contains it.
    public var letter: String?
    public var letterPresent: Bool?
    /// Position questions: the 1-based position asked, its ordinal wording, and the length of the
    /// token holding that letter.
    public var position: Int?
    public var ordinal: String?
    public var tokenLengthAtPosition: Int?
    /// Fields this schema does not name (external question sets), kept as they were.
    public var other: [String: JSONValue] = [:]

    public init(word: String? = nil, wordLength: Int? = nil, wordTokens: Int? = nil, repeatedLetters: Int? = nil) {
        self.word = word
        self.wordLength = wordLength
        self.wordTokens = wordTokens
        self.repeatedLetters = repeatedLetters
    }

    enum Key: String, CaseIterable {
        case word, wordLength = "word_length", wordTokens = "word_tokens", repeatedLetters = "repeated_letters"
        case letter, letterPresent = "letter_present", position, ordinal, tokenLengthAtPosition = "token_length_at_position"
    }

    /// A stratification dimension's integer value, by its field name.
    public func integer(_ field: String) -> Int? {
        switch Key(rawValue: field) {
        case .wordLength: return wordLength
        case .wordTokens: return wordTokens
        case .repeatedLetters: return repeatedLetters
        case .position: return position
        case .tokenLengthAtPosition: return tokenLengthAtPosition
        default: return other[field]?.int
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        func k(_ key: Key) -> DynamicKey { DynamicKey(key.rawValue) }
        // Evaluation files written before the typed records spelled the integers 0 and 1 as false
        // and true (a JSON round trip through NSNumber); those read back exactly.
        func int(_ key: Key) throws -> Int? {
            if let b = try? c.decodeIfPresent(Bool.self, forKey: k(key)) { return b ? 1 : 0 }
            return try c.decodeIfPresent(Int.self, forKey: k(key))
        }
        word = try c.decodeIfPresent(String.self, forKey: k(.word))
        wordLength = try int(.wordLength)
        wordTokens = try int(.wordTokens)
        repeatedLetters = try int(.repeatedLetters)
        letter = try c.decodeIfPresent(String.self, forKey: k(.letter))
        letterPresent = try c.decodeIfPresent(Bool.self, forKey: k(.letterPresent))
        position = try int(.position)
        ordinal = try c.decodeIfPresent(String.self, forKey: k(.ordinal))
        tokenLengthAtPosition = try int(.tokenLengthAtPosition)
        let known = Set(Key.allCases.map(\.rawValue))
        for key in c.allKeys where !known.contains(key.stringValue) { other[key.stringValue] = try c.decode(JSONValue.self, forKey: key) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: DynamicKey.self)
        for (key, v) in other { try c.encode(v, forKey: DynamicKey(key)) }
        func k(_ key: Key) -> DynamicKey { DynamicKey(key.rawValue) }
        try c.encodeIfPresent(word, forKey: k(.word))
        try c.encodeIfPresent(wordLength, forKey: k(.wordLength))
        try c.encodeIfPresent(wordTokens, forKey: k(.wordTokens))
        try c.encodeIfPresent(repeatedLetters, forKey: k(.repeatedLetters))
        try c.encodeIfPresent(letter, forKey: k(.letter))
        try c.encodeIfPresent(letterPresent, forKey: k(.letterPresent))
        try c.encodeIfPresent(position, forKey: k(.position))
        try c.encodeIfPresent(ordinal, forKey: k(.ordinal))
        try c.encodeIfPresent(tokenLengthAtPosition, forKey: k(.tokenLengthAtPosition))
    }
}

/// One evaluation question with its computed gold answer.
public struct Question: Codable, Equatable, Sendable {
    public var id: String
    /// spelling | count | position
    public var task: String
    /// direct | spell_first
    public var style: String
    public var split: String
    public var prompt: String
    public var answer: String
    public var facts: QuestionFacts

    enum CodingKeys: String, CodingKey { case id, task, style, split, prompt, answer }

    public init(id: String, task: String, style: String, split: String, prompt: String, answer: String, facts: QuestionFacts) {
        self.id = id
        self.task = task
        self.style = style
        self.split = split
        self.prompt = prompt
        self.answer = answer
        self.facts = facts
    }

    // The facts sit beside the question's own fields in one flat object (the published schema).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        task = try c.decode(String.self, forKey: .task)
        style = try c.decode(String.self, forKey: .style)
        split = try c.decode(String.self, forKey: .split)
        prompt = try c.decode(String.self, forKey: .prompt)
        answer = try c.decode(String.self, forKey: .answer)
        facts = try QuestionFacts(from: decoder)
        for k in CodingKeys.allCases { facts.other[k.rawValue] = nil }
    }

    public func encode(to encoder: Encoder) throws {
        try facts.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(task, forKey: .task)
        try c.encode(style, forKey: .style)
        try c.encode(split, forKey: .split)
        try c.encode(prompt, forKey: .prompt)
        try c.encode(answer, forKey: .answer)
    }
}

extension Question.CodingKeys: CaseIterable {}

/// The fields every line of every dataset file has (what `data stats` reads).
public struct DatasetLine: Codable, Equatable, Sendable {
    public var word: String
    public var split: String
    public var task: String?
    public var style: String?
}

/// manifest.json: how the dataset was made and the SHA-256 of every file.
public struct DatasetManifest: Codable, Equatable, Sendable {
    public var formatVersion: Int
    public var seed: UInt64
    public var englishOnly: Bool
    public var config: DatasetConfig
    /// Items per file (name without .jsonl) and the split sizes (train_tokens, test_words, …).
    public var counts: [String: Int]
    /// Vocabulary extraction, step by step: (what was kept, entries remaining).
    public var extraction: [ExtractionStep]
    public var tokenizer: TokenizerIdentity
    public var words: WordListIdentity
    /// File name → SHA-256 (hex).
    public var files: [String: String]
    public var decontamination: Decontamination?

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", seed, englishOnly = "english_only", config, counts, extraction, tokenizer, words, files, decontamination
    }

    public init(formatVersion: Int, seed: UInt64, englishOnly: Bool, config: DatasetConfig, counts: [String: Int], extraction: [ExtractionStep],
                tokenizer: TokenizerIdentity, words: WordListIdentity, files: [String: String], decontamination: Decontamination?) {
        self.formatVersion = formatVersion
        self.seed = seed
        self.englishOnly = englishOnly
        self.config = config
        self.counts = counts
        self.extraction = extraction
        self.tokenizer = tokenizer
        self.words = words
        self.files = files
        self.decontamination = decontamination
    }

    public func count(_ key: String) -> Int { counts[key] ?? 0 }
}

/// One step of vocabulary extraction, written as a two-element list `["step", remaining]`.
public struct ExtractionStep: Codable, Equatable, Sendable {
    public var step: String
    public var remaining: Int
    public init(_ step: String, _ remaining: Int) { self.step = step; self.remaining = remaining }
    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        step = try c.decode(String.self)
        remaining = try c.decode(Int.self)
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(step)
        try c.encode(remaining)
    }
}

public struct TokenizerIdentity: Codable, Equatable, Sendable {
    /// File names the tokenizer was read from.
    public var source: [String]
    /// SHA-256 over the per-file digests (one identity for a directory of several files).
    public var sha256: String
    public var vocabularySize: Int
    public var preTokenizer: String
    enum CodingKeys: String, CodingKey { case source, sha256, vocabularySize = "vocabulary_size", preTokenizer = "pre_tokenizer" }
    public init(source: [String], sha256: String, vocabularySize: Int, preTokenizer: String) {
        self.source = source
        self.sha256 = sha256
        self.vocabularySize = vocabularySize
        self.preTokenizer = preTokenizer
    }
}

public struct WordListIdentity: Codable, Equatable, Sendable {
    public var file: String
    public var sha256: String
    public var entries: Int
    public init(file: String, sha256: String, entries: Int) { self.file = file; self.sha256 = sha256; self.entries = entries }
}

public struct Decontamination: Codable, Equatable, Sendable {
    public var excludeFile: String
    public var excludeSHA256: String
    public var excludedWords: Int
    public var removedFromTrain: Int
    enum CodingKeys: String, CodingKey {
        case excludeFile = "exclude_file", excludeSHA256 = "exclude_sha256", excludedWords = "excluded_words", removedFromTrain = "removed_from_train"
    }
    public init(excludeFile: String, excludeSHA256: String, excludedWords: Int, removedFromTrain: Int) {
        self.excludeFile = excludeFile
        self.excludeSHA256 = excludeSHA256
        self.excludedWords = excludedWords
        self.removedFromTrain = removedFromTrain
    }
}

extension DatasetManifest {
    /// Reads `dir/manifest.json` and checks every file it lists against its SHA-256 (`hash` computes
    /// a file's hex digest), so an edited gold answer or a truncated split is found before it is used.
    public static func verified(dir: String, hash: (String) throws -> String) throws -> DatasetManifest {
        let manifest = try RecordFile.read(DatasetManifest.self, from: dir + "/manifest.json")
        for (name, expected) in manifest.files.sorted(by: { $0.key < $1.key }) {
            let path = dir + "/" + name
            guard !name.contains(".."), fileExists(path) else {
                throw RecordError.malformed(path: dir + "/manifest.json", line: nil, field: "files.\(name)", reason: "lists \(name), which is missing from the dataset")
            }
            let actual = try hash(path)
            guard actual == expected else {
                throw RecordError.malformed(path: path, line: nil, field: nil,
                                            reason: "its SHA-256 (\(actual.prefix(12))…) differs from manifest.json's (\(expected.prefix(12))…): the file changed after `strawberry data build`; rebuild the dataset, or pass --no-verify to use it as it is")
            }
        }
        return manifest
    }
}
