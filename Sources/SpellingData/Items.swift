// The records a dataset is made of: spelling examples (prompt/completion kept apart so training
// can mask the prompt) and evaluation questions whose gold answers come from Letters.
import TensorCore
import Tokenization

public enum EvalTask: String, CaseIterable, Sendable { case spelling, count, position }
public enum PromptStyle: String, CaseIterable, Sendable {
    case direct
    case spellFirst = "spell_first"
}

/// A JSON-ready record: string keys, values of JSON types only.
public typealias Record = [String: Any]

/// How a word is split by the model's tokenizer where it appears in the prompts ('word', quoted).
public struct WordTokenization: Sendable {
    /// Tokens overlapping the word.
    public let tokenCount: Int
    /// For each letter, how many of the word's letters its token holds.
    public let tokenLengthAt: [Int]

    public init(_ word: String, tokenizer: Tokenizer) {
        let ids = tokenizer.encodeOrdinary("'" + word + "'")
        let start = 1, end = 1 + word.utf8.count       // the word's byte range inside the quotes
        var offset = 0
        var spans: [Range<Int>] = []
        for id in ids {
            let n = tokenizer.decodeBytes([id]).count
            let lo = max(offset, start), hi = min(offset + n, end)
            if lo < hi { spans.append(lo..<hi) }
            offset += n
        }
        tokenCount = spans.count
        tokenLengthAt = (0..<word.utf8.count).map { p in spans.first { $0.contains(start + p) }?.count ?? 1 }
    }
}

public struct ItemFactory {
    public let config: DatasetConfig
    public let tokenizer: Tokenizer

    public init(config: DatasetConfig, tokenizer: Tokenizer) {
        self.config = config
        self.tokenizer = tokenizer
    }

    /// `k` spelling examples of `word` with distinct template families chosen by `rng`.
    public func spellingExamples(_ word: String, k: Int, split: String, source: String, ids: [Int]?, rng: inout SplitMix64) -> [Record] {
        var order = Array(config.templates.indices)
        order.seededShuffle(&rng)
        return order.prefix(k).map { i in
            let t = config.templates[i], r = t.render(word)
            var rec: Record = ["word": word, "prompt": r.prompt, "completion": r.completion, "template": t.name,
                               "task": "spelling", "split": split, "source": source]
            // Dictionary words have no source token; the field stays so every split shares one schema.
            rec["source_token_ids"] = ids ?? []
            return rec
        }
    }

    /// Count, position and spelling questions for one word, each in both prompt styles (paired:
    /// the same letter and position in both styles).
    public func questions(_ word: String, split: String, rng: inout SplitMix64) -> [EvalTask: [PromptStyle: Record]] {
        let letters = Array(word)
        let tok = WordTokenization(word, tokenizer: tokenizer)
        let base: Record = ["word": word, "split": split, "word_length": letters.count, "word_tokens": tok.tokenCount,
                            "repeated_letters": Letters.repeatedLetters(word)]
        let q = config.questions
        var out: [EvalTask: [PromptStyle: Record]] = [:]

        // Letter count: a present letter (drawn by position, so frequent letters come up as often
        // as they occur) or, with probability count_absent_fraction, one the word lacks.
        let absent = Letters.absentLetters(word)
        let askAbsent = !absent.isEmpty && rng.uniform() < config.countAbsentFraction
        let letter = askAbsent ? absent[rng.below(absent.count)] : letters[rng.below(letters.count)]
        var count = base
        count["letter"] = String(letter)
        count["answer"] = String(Letters.count(letter, in: word))
        count["letter_present"] = !askAbsent
        let countPrompt = fill(q.count, word: word, letter: String(letter), ordinal: "")

        // Letter position: 1-based; some questions ask for the last letter by name.
        let askLast = rng.uniform() < config.positionLastFraction
        let position = askLast ? letters.count : 1 + rng.below(letters.count)
        var pos = base
        pos["position"] = position
        pos["ordinal"] = askLast ? "last" : Letters.ordinal(position)
        pos["answer"] = String(letters[position - 1])
        pos["token_length_at_position"] = tok.tokenLengthAt[position - 1]
        let posPrompt = fill(askLast ? q.lastLetter : q.position, word: word, letter: "", ordinal: Letters.ordinal(position))

        var spell = base
        spell["answer"] = letters.map(String.init).joined(separator: "-")
        let spellPrompt = fill(q.spelling, word: word, letter: "", ordinal: "")

        for (task, var rec, prompt) in [(EvalTask.count, count, countPrompt), (.position, pos, posPrompt), (.spelling, spell, spellPrompt)] {
            rec["task"] = task.rawValue
            for style in PromptStyle.allCases {
                var r = rec
                r["style"] = style.rawValue
                let kind = task == .count ? "number" : task == .position ? "letter" : "spelling"
                r["prompt"] = prompt + (style == .direct ? q.directSuffix : q.spellFirstSuffix).replacingOccurrences(of: "{answer_kind}", with: kind)
                out[task, default: [:]][style] = r
            }
        }
        return out
    }

    func fill(_ template: String, word: String, letter: String, ordinal: String) -> String {
        template.replacingOccurrences(of: "{word}", with: word).replacingOccurrences(of: "{letter}", with: letter)
            .replacingOccurrences(of: "{ordinal}", with: ordinal)
    }
}
