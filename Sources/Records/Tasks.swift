// The vocabulary every module shares: what is asked, how, and in which chat mode.
import Foundation

/// What a question asks for.
public enum EvalTask: String, CaseIterable, Codable, Sendable { case spelling, count, position }

/// How a question asks: for the answer only, or to spell the word first and then answer.
public enum PromptStyle: String, CaseIterable, Codable, Sendable {
    case direct
    case spellFirst = "spell_first"
}

/// How an item's answer was obtained: generated and read from the text, or chosen as the candidate
/// (a count 0–20, a letter a–z, yes/no) the model gives the highest log-probability in the answer
/// slot, which measures what the model knows whatever format it would answer in.
public enum Scoring: String, CaseIterable, Codable, Sendable { case generate, likelihood }

/// Qwen3 chat mode an evaluation runs in (other models: non-thinking only).
public enum EvalMode: String, CaseIterable, Codable, Sendable {
    case nonThinking = "non-thinking"
    case thinking
}

/// How evaluation decodes. `auto`: greedy in non-thinking mode (reproducible), Qwen3's model-card
/// sampling in thinking mode (which the card says must not be greedy); `card`: the model card's
/// values in both modes (thinking T 0.6, top-p 0.95, top-k 20; non-thinking T 0.7, top-p 0.8,
/// top-k 20; min-p 0), each question sampled `--samples` times; `greedy`: greedy in both.
public enum EvalSampling: String, CaseIterable, Codable, Sendable {
    case auto, card, greedy

    /// Whether answers in `mode` are sampled (and so drawn `samples` times).
    public func samples(_ mode: EvalMode) -> Bool {
        switch self {
        case .auto: return mode == .thinking
        case .card: return true
        case .greedy: return false
        }
    }
}

/// How an answer is read from an output and judged against the gold answer. The built-in tasks
/// have one each (count → number, position → letter, spelling → letters); an external benchmark
/// names its own per question, or lets it be inferred from the gold answer.
public enum AnswerType: String, CaseIterable, Codable, Sendable {
    /// An integer, written in digits or words ("3", "three").
    case number
    /// One letter, compared case-insensitively.
    case letter
    /// Yes or no (also true/false).
    case yesNo = "yes_no"
    /// One word, compared case-insensitively.
    case word
    /// A spelled sequence of letters; gold may be written `t h e`, `t-h-e` or `the`.
    case letters
    /// Free text, compared after normalisation (case, punctuation, articles, spaces).
    case text

    /// The answer type of a built-in task (nil for a free task label).
    public init?(task: String) {
        switch EvalTask(rawValue: task) {
        case .count: self = .number
        case .position: self = .letter
        case .spelling: self = .letters
        case nil: return nil
        }
    }

    /// The type a gold answer looks like, for a question that does not say: digits → number, one
    /// letter → letter, yes/no/true/false → yes_no, single letters joined by spaces, dashes or commas
    /// → letters, one word → word, anything else → text.
    public init(inferredFrom gold: String) {
        let g = gold.trimmingCharacters(in: .whitespacesAndNewlines)
        let lower = g.lowercased()
        if !g.isEmpty, g.count <= 9, g.allSatisfy({ $0.isASCII && $0.isNumber }) { self = .number; return }
        if g.count == 1, g.first?.isLetter == true { self = .letter; return }
        if ["yes", "no", "true", "false"].contains(lower) { self = .yesNo; return }
        let parts = g.split(whereSeparator: { " -,.\n\t".contains($0) })
        if parts.count >= 2, parts.allSatisfy({ $0.count == 1 && $0.first?.isLetter == true }) { self = .letters; return }
        if !g.isEmpty, g.allSatisfy({ $0.isLetter || $0 == "'" || $0 == "-" }) { self = .word; return }
        self = .text
    }
}

/// The closed answer sets of likelihood scoring — one definition for `eval --scoring likelihood` and
/// for the lm-evaluation-harness tasks `data build` exports, so both score the same candidates.
public enum CandidateSet {
    /// The largest count a candidate set spans: golds beyond it are not a closed set worth scoring.
    public static let maxCount = 200

    /// The candidates of an answer type, the same for every item of an evaluation (so they leak nothing
    /// about one item's gold): counts 0…max(20, largest gold), letters a…z, yes/no; nil for open answers.
    public static func candidates(_ type: AnswerType, golds: [String]) -> [String]? {
        switch type {
        case .number:
            var top = 20
            for g in golds {
                guard let v = Int(g.trimmingCharacters(in: .whitespacesAndNewlines)), v >= 0, v <= maxCount else { return nil }
                top = max(top, v)
            }
            return (0...top).map(String.init)
        case .letter: return (UInt8(ascii: "a")...UInt8(ascii: "z")).map { String(UnicodeScalar($0)) }
        case .yesNo: return ["yes", "no"]
        case .letters, .word, .text: return nil
        }
    }

    /// Whether an item of this type and style is scored by likelihood: a closed answer set, asked for
    /// directly (a spell-first prompt's answer slot holds the spelling, not the answer).
    public static func applies(_ type: AnswerType, style: String) -> Bool {
        type != .letters && type != .word && type != .text && style != PromptStyle.spellFirst.rawValue
    }
}
