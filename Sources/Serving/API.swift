// The API's requests, responses and their meaning, independent of the HTTP framework: validation
// (422 with details), the prompts (the evaluation's own wording, in the model's chat template, so the
// served model is asked exactly what it was measured on), the answers read with the evaluation's
// answer readers, and the truth the server computes for count and position questions — which feeds
// the live accuracy counters (transfer monitoring in production).
import Evaluation
import Foundation
import Generation
import Records
import SpellingData
import Tokenization

/// An error answer: status, message, and details (never a stack trace or a path).
public struct APIError: Error, Equatable, Sendable {
    /// The HTTP status.
    public var code: Int
    public var error: String
    public var details: [String: String]
    /// Seconds to wait, for 429/503.
    public var retryAfter: Int?
    /// Why the request was refused, for `strawberry_rejections_total{reason}` (nil: not a refusal).
    public var rejection: String?
    public init(_ code: Int, _ error: String, details: [String: String] = [:], retryAfter: Int? = nil, rejection: String? = nil) {
        self.code = code
        self.error = error
        self.details = details
        self.retryAfter = retryAfter
        self.rejection = rejection
    }
    public static func invalid(_ field: String, _ why: String) -> APIError { APIError(422, "invalid request", details: [field: why], rejection: "invalid") }
}

public struct ErrorBody: Codable, Equatable, Sendable {
    public var error: String
    public var details: [String: String]?
}

// MARK: requests and responses

public struct ChatMessageIn: Codable, Sendable {
    public var role: String
    public var content: String
}

public struct PredictRequest: Codable, Sendable {
    public var prompt: String?
    public var messages: [ChatMessageIn]?
    public var maxTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var minP: Double?
    public var seed: UInt64?
    public var stop: [String]?
    public var thinking: Bool?
    public var taskType: String?
}

public struct PredictResponse: Codable, Sendable {
    public var text: String
    public var thinking: String?
    public var finishReason: String
    public var promptTokens: Int
    public var completionTokens: Int
    public var confidence: Double
    public var taskType: String?
}

public struct WordRequest: Codable, Sendable { public var word: String? }

public struct SpellingResponse: Codable, Sendable {
    public var word: String
    public var spelling: String
    public var letters: [String]
    public var correct: Bool
    public var confidence: Double
    public var answer: String
}

public struct CheckRequest: Codable, Sendable { public var word: String?; public var spelling: String? }

public struct CheckResponse: Codable, Sendable {
    public var word: String
    public var spelling: String
    public var isCorrect: Bool
    public var suggestion: String
    public var modelSpelling: String
    public var modelAgrees: Bool
    public var confidence: Double
}

public struct CountRequest: Codable, Sendable { public var word: String?; public var letter: String? }

public struct CountResponse: Codable, Sendable {
    public var word: String
    public var letter: String
    public var answer: String
    public var count: Int?
    public var truth: Int
    public var correct: Bool
    public var confidence: Double
}

public struct PositionRequest: Codable, Sendable { public var word: String?; public var position: Int? }

public struct PositionResponse: Codable, Sendable {
    public var word: String
    public var position: Int
    public var answer: String
    public var letter: String?
    public var truth: String
    public var correct: Bool
    public var confidence: Double
}

// MARK: validation

public enum Validate {
    public static let maxWordLength = 64

    /// A word: letters a–z only (case-insensitive), 1…64; returned lower-cased.
    public static func word(_ w: String?) throws(APIError) -> String {
        guard let w else { throw .invalid("word", "required") }
        guard !w.isEmpty, w.count <= maxWordLength else { throw .invalid("word", "must be 1 to \(maxWordLength) letters") }
        guard let word = Letters.normalizedWord(w) else { throw .invalid("word", "letters a-z only") }
        guard word.count <= maxWordLength else { throw .invalid("word", "must be 1 to \(maxWordLength) letters") }
        return word
    }

    /// A spelling as a person types one ("s-t-r-a-w", "S T R A W"): normalised (NFKC), then printable
    /// ASCII only, so an invisible character (a zero-width space, a direction mark) or a letter outside
    /// a–z cannot hide inside an answer that is judged correct.
    public static func spelling(_ s: String?) throws(APIError) -> String {
        guard let s, !s.isEmpty, s.count <= 4 * maxWordLength else { throw .invalid("spelling", "required, at most \(4 * maxWordLength) characters") }
        let n = s.precomposedStringWithCompatibilityMapping
        guard n.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else { throw .invalid("spelling", "letters a-z and separators (-, space, comma) only") }
        return n
    }

    public static func letter(_ l: String?) throws(APIError) -> Character {
        guard let l else { throw .invalid("letter", "required") }
        guard l.count <= 4, let letter = Letters.normalizedWord(l), letter.count == 1, let c = letter.first else { throw .invalid("letter", "one letter a-z") }
        return c
    }

    public static func position(_ p: Int?, in word: String) throws(APIError) -> Int {
        guard let p else { throw .invalid("position", "required") }
        guard (1...word.count).contains(p) else { throw .invalid("position", "must be within the word: 1 to \(word.count)") }
        return p
    }
}

/// Which routes a server answers (TASK_TYPE).
public enum TaskSet: String, Sendable, CaseIterable {
    case all, spelling, positionCount = "position_count"
    public var spelling: Bool { self != .positionCount }
    public var positionCount: Bool { self != .spelling }
}

// MARK: prompts and answers

/// Builds the questions exactly as the evaluation words them (direct style), and reads the answers.
public struct Questions: Sendable {
    public let wording = QuestionWording()

    func direct(_ text: String, kind: String) -> String { text + wording.directSuffix.replacingOccurrences(of: "{answer_kind}", with: kind) }

    public func spelling(_ word: String) -> String {
        direct(wording.spelling.replacingOccurrences(of: "{word}", with: word), kind: "spelling")
    }

    public func count(_ word: String, _ letter: Character) -> String {
        direct(wording.count.replacingOccurrences(of: "{word}", with: word).replacingOccurrences(of: "{letter}", with: String(letter)), kind: "number")
    }

    public func position(_ word: String, _ position: Int) -> String {
        let text = wording.position
        return direct(text.replacingOccurrences(of: "{word}", with: word).replacingOccurrences(of: "{ordinal}", with: Letters.ordinal(position)), kind: "letter")
    }

    /// Letters of a spelling as a person writes it ("s-t-r-a-w", "S T R A W", "straw") → ["s","t",…];
    /// `spelling` is one `Validate.spelling` returned (normalised there, once).
    public static func letters(of spelling: String) -> [String] {
        let lower = spelling.lowercased()
        if let spelled = AnswerExtraction.spelling(lower) { return spelled.map(String.init) }
        return lower.filter(\.isLetter).map(String.init)
    }
}
