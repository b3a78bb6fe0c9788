// Everything that shapes a spelling dataset, as one value type decoded from YAML (every key
// optional; missing keys take the defaults below) and saved, resolved, in the manifest. A
// record, so tools that only read datasets (publishing, the dataset card) need no engine.
import Foundation

/// One family of spelling prompts. `{word}` is the word as given; the completion may also use
/// `{spelling}`: the letters joined by `separator`, in `letter_case`, or one numbered per line.
public struct SpellingTemplate: Codable, Equatable, Sendable {
    public var name: String
    public var prompt: String
    public var completion: String
    public var separator: String = "-"
    public var letterCase: LetterCase = .lower
    public var numbered: Bool = false

    public enum LetterCase: String, Codable, Sendable { case lower, upper }

    enum CodingKeys: String, CodingKey { case name, prompt, completion, separator, letterCase = "letter_case", numbered }

    public init(name: String, prompt: String, completion: String, separator: String = "-", letterCase: LetterCase = .lower, numbered: Bool = false) {
        self.name = name
        self.prompt = prompt
        self.completion = completion
        self.separator = separator
        self.letterCase = letterCase
        self.numbered = numbered
    }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        prompt = try c.decode(String.self, forKey: .prompt)
        completion = try c.decode(String.self, forKey: .completion)
        separator = try c.decodeIfPresent(String.self, forKey: .separator) ?? "-"
        letterCase = try c.decodeIfPresent(LetterCase.self, forKey: .letterCase) ?? .lower
        numbered = try c.decodeIfPresent(Bool.self, forKey: .numbered) ?? false
    }

    /// The letters of `word` written out in this family's format.
    public func spelling(_ word: String) -> String {
        let letters = word.map { letterCase == .upper ? $0.uppercased() : $0.lowercased() }
        if numbered { return letters.enumerated().map { "\($0.offset + 1). \($0.element)" }.joined(separator: "\n") }
        return letters.joined(separator: separator)
    }

    public func render(_ word: String) -> (prompt: String, completion: String) {
        (prompt.replacingOccurrences(of: "{word}", with: word),
         completion.replacingOccurrences(of: "{spelling}", with: spelling(word)).replacingOccurrences(of: "{word}", with: word))
    }
}

/// Prompt wording of the evaluation questions, per task and style. Placeholders: {word},
/// {letter}, {ordinal}; the suffixes also {answer_kind}.
public struct QuestionWording: Codable, Equatable, Sendable {
    public var count = "How many {letter}'s are in the word '{word}'?"
    public var position = "What is the {ordinal} letter in '{word}'?"
    public var lastLetter = "What is the last letter in '{word}'?"
    public var spelling = "Spell the word '{word}' letter by letter, separated by dashes."
    /// Appended in the direct style: answer only. {answer_kind} is "number", "letter" or "spelling".
    public var directSuffix = " Answer with only the {answer_kind}."
    /// Appended in the spell-first style: spell, then answer.
    public var spellFirstSuffix = " First spell the word letter by letter, then give the {answer_kind}."

    enum CodingKeys: String, CodingKey {
        case count, position, lastLetter = "last_letter", spelling, directSuffix = "direct_suffix", spellFirstSuffix = "spell_first_suffix"
    }

    public init() {}
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self), x = QuestionWording()
        count = try c.decodeIfPresent(String.self, forKey: .count) ?? x.count
        position = try c.decodeIfPresent(String.self, forKey: .position) ?? x.position
        lastLetter = try c.decodeIfPresent(String.self, forKey: .lastLetter) ?? x.lastLetter
        spelling = try c.decodeIfPresent(String.self, forKey: .spelling) ?? x.spelling
        directSuffix = try c.decodeIfPresent(String.self, forKey: .directSuffix) ?? x.directSuffix
        spellFirstSuffix = try c.decodeIfPresent(String.self, forKey: .spellFirstSuffix) ?? x.spellFirstSuffix
    }
}

/// What a dataset's training split teaches (`data build --arm`): the arms of the transfer experiment.
public enum DatasetArm: String, CaseIterable, Codable, Sendable {
    /// Spelling only: vocabulary tokens (and, with `joins`, pseudo-words of 2–3 tokens) spelled out.
    case spelling
    /// The same words and prompt shapes with completions that carry no letter-level information
    /// (the word repeated a fixed number of times, chosen to match the spelling arm's mean token count).
    case control
    /// Spelling plus count and position questions on vocabulary tokens (spell, then answer; or the
    /// bare answer): training on the target tasks, the reference ceiling.
    case positive
}

/// Spelling across token boundaries: pseudo-words made by joining 2–3 training tokens, spelled like
/// the tokens, so a model can learn to spell multi-token words without seeing any evaluated word.
public struct JoinsConfig: Codable, Equatable, Sendable {
    /// Share of the training spelling examples that are joins, in [0, 0.9].
    public var share = 0.25
    /// Tokens per join.
    public var minTokens = 2
    public var maxTokens = 3

    enum CodingKeys: String, CodingKey { case share, minTokens = "min_tokens", maxTokens = "max_tokens" }

    public init(share: Double = 0.25, minTokens: Int = 2, maxTokens: Int = 3) {
        self.share = share
        self.minTokens = minTokens
        self.maxTokens = maxTokens
    }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self), x = JoinsConfig()
        share = try c.decodeIfPresent(Double.self, forKey: .share) ?? x.share
        minTokens = try c.decodeIfPresent(Int.self, forKey: .minTokens) ?? x.minTokens
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens) ?? x.maxTokens
    }
}

public struct DatasetConfig: Codable, Equatable, Sendable {
    public var seed: UInt64 = 42
    /// Vocabulary tokens kept: letters only, this many characters after stripping the boundary marker.
    public var minTokenLength = 2
    public var maxTokenLength = 20
    /// ASCII a–z only. nil = automatic: on for large multilingual vocabularies (Qwen-style, > 100k tokens).
    public var englishOnly: Bool? = nil
    /// Dictionary words kept for validation/test: lower-case a–z, this length.
    public var wordMinLength = 3
    public var wordMaxLength = 14
    public var validationSize = 500
    public var testSize = 1000
    /// Share of vocabulary tokens held out of training to measure spelling generalisation.
    public var heldoutVocabFraction = 0.05
    /// Spelling examples made per training token (distinct template families).
    public var examplesPerToken = 2
    /// Share of letter-count questions about a letter the word does not contain (answer 0).
    public var countAbsentFraction = 0.25
    /// Share of position questions that ask for the last letter.
    public var positionLastFraction = 0.2
    public var templates: [SpellingTemplate] = DatasetConfig.builtInTemplates
    public var questions = QuestionWording()
    /// Pseudo-words of 2–3 training tokens spelled in training (nil: none, as every dataset before them).
    public var joins: JoinsConfig? = nil
    /// What the training split teaches (nil: spelling, as every dataset before arms).
    public var arm: DatasetArm? = nil

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case seed, minTokenLength = "min_token_length", maxTokenLength = "max_token_length", englishOnly = "english_only"
        case wordMinLength = "word_min_length", wordMaxLength = "word_max_length", validationSize = "validation_size"
        case testSize = "test_size", heldoutVocabFraction = "heldout_vocab_fraction", examplesPerToken = "examples_per_token"
        case countAbsentFraction = "count_absent_fraction", positionLastFraction = "position_last_fraction", templates, questions
        case joins, arm
    }

    public init() {}

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self), x = DatasetConfig()
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? x.seed
        minTokenLength = try c.decodeIfPresent(Int.self, forKey: .minTokenLength) ?? x.minTokenLength
        maxTokenLength = try c.decodeIfPresent(Int.self, forKey: .maxTokenLength) ?? x.maxTokenLength
        englishOnly = try c.decodeIfPresent(Bool.self, forKey: .englishOnly)
        wordMinLength = try c.decodeIfPresent(Int.self, forKey: .wordMinLength) ?? x.wordMinLength
        wordMaxLength = try c.decodeIfPresent(Int.self, forKey: .wordMaxLength) ?? x.wordMaxLength
        validationSize = try c.decodeIfPresent(Int.self, forKey: .validationSize) ?? x.validationSize
        testSize = try c.decodeIfPresent(Int.self, forKey: .testSize) ?? x.testSize
        heldoutVocabFraction = try c.decodeIfPresent(Double.self, forKey: .heldoutVocabFraction) ?? x.heldoutVocabFraction
        examplesPerToken = try c.decodeIfPresent(Int.self, forKey: .examplesPerToken) ?? x.examplesPerToken
        countAbsentFraction = try c.decodeIfPresent(Double.self, forKey: .countAbsentFraction) ?? x.countAbsentFraction
        positionLastFraction = try c.decodeIfPresent(Double.self, forKey: .positionLastFraction) ?? x.positionLastFraction
        templates = try c.decodeIfPresent([SpellingTemplate].self, forKey: .templates) ?? x.templates
        questions = try c.decodeIfPresent(QuestionWording.self, forKey: .questions) ?? x.questions
        joins = try c.decodeIfPresent(JoinsConfig.self, forKey: .joins)
        arm = try c.decodeIfPresent(DatasetArm.self, forKey: .arm)
    }

    /// The built-in spelling families (also written out as configs/dataset.yaml).
    public static let builtInTemplates: [SpellingTemplate] = [
        .init(name: "dashes", prompt: "Spell the word '{word}'.", completion: "{spelling}", separator: "-"),
        .init(name: "spaced", prompt: "How do you spell {word}?", completion: "{word} is spelled {spelling}.", separator: " "),
        .init(name: "commas", prompt: "Spell out '{word}' letter by letter, separated by commas.", completion: "{spelling}", separator: ", "),
        .init(name: "lines", prompt: "Write each letter of '{word}' on its own line.", completion: "{spelling}", separator: "\n"),
        .init(name: "capitals", prompt: "Spell '{word}' in capital letters, separated by dashes.", completion: "{spelling}", separator: "-", letterCase: .upper),
        .init(name: "letters-are", prompt: "What are the letters in '{word}'?", completion: "The letters in '{word}' are: {spelling}.", separator: ", "),
        .init(name: "numbered", prompt: "List the letters of '{word}' in order, numbered.", completion: "{spelling}", numbered: true),
        .init(name: "upper-spaced", prompt: "Break the word {word} into its letters.", completion: "{spelling}", separator: " ", letterCase: .upper),
        .init(name: "quoted", prompt: "'{word}' is spelled how?", completion: "'{word}' is spelled {spelling}.", separator: "-"),
    ]
}

