// The records a dataset is made of: spelling examples (prompt/completion kept apart so training
// can mask the prompt) and evaluation questions whose gold answers come from Letters.
import Records
import TensorCore
import Tokenization

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
    public func spellingExamples(_ word: String, k: Int, split: String, source: String, ids: [Int]?, rng: inout SplitMix64) -> [SpellingExample] {
        var order = Array(config.templates.indices)
        order.seededShuffle(&rng)
        return order.prefix(k).map { i in
            let t = config.templates[i], r = t.render(word)
            // Dictionary words have no source token; the field stays so every split shares one schema.
            return SpellingExample(word: word, prompt: r.prompt, completion: r.completion, template: t.name, split: split, source: source,
                                   sourceTokenIds: ids ?? [])
        }
    }

    /// Count, position and spelling questions for one word, each in both prompt styles (paired:
    /// the same letter and position in both styles). Ids are assigned by the builder.
    public func questions(_ word: String, split: String, rng: inout SplitMix64) -> [EvalTask: [PromptStyle: Question]] {
        let letters = Array(word)
        let tok = WordTokenization(word, tokenizer: tokenizer)
        let base = QuestionFacts(word: word, wordLength: letters.count, wordTokens: tok.tokenCount, repeatedLetters: Letters.repeatedLetters(word))
        let q = config.questions
        var out: [EvalTask: [PromptStyle: Question]] = [:]

        // Letter count: a present letter (drawn by position, so frequent letters come up as often
        // as they occur) or, with probability count_absent_fraction, one the word lacks.
        let absent = Letters.absentLetters(word)
        let askAbsent = !absent.isEmpty && rng.uniform() < config.countAbsentFraction
        let letter = askAbsent ? absent[rng.below(absent.count)] : letters[rng.below(letters.count)]
        var count = base
        count.letter = String(letter)
        count.letterPresent = !askAbsent
        let countAnswer = String(Letters.count(letter, in: word))
        let countPrompt = fill(q.count, word: word, letter: String(letter), ordinal: "")

        // Letter position: 1-based; some questions ask for the last letter by name.
        let askLast = rng.uniform() < config.positionLastFraction
        let position = askLast ? letters.count : 1 + rng.below(letters.count)
        var pos = base
        pos.position = position
        pos.ordinal = askLast ? "last" : Letters.ordinal(position)
        pos.tokenLengthAtPosition = tok.tokenLengthAt[position - 1]
        let posAnswer = String(letters[position - 1])
        let posPrompt = fill(askLast ? q.lastLetter : q.position, word: word, letter: "", ordinal: Letters.ordinal(position))

        let spellAnswer = letters.map(String.init).joined(separator: "-")
        let spellPrompt = fill(q.spelling, word: word, letter: "", ordinal: "")

        for (task, facts, prompt, answer) in [(EvalTask.count, count, countPrompt, countAnswer), (.position, pos, posPrompt, posAnswer),
                                              (.spelling, base, spellPrompt, spellAnswer)] {
            for style in PromptStyle.allCases {
                let kind = task == .count ? "number" : task == .position ? "letter" : "spelling"
                let suffix = (style == .direct ? q.directSuffix : q.spellFirstSuffix).replacingOccurrences(of: "{answer_kind}", with: kind)
                out[task, default: [:]][style] = Question(id: "", task: task.rawValue, style: style.rawValue, split: split,
                                                          prompt: prompt + suffix, answer: answer, facts: facts)
            }
        }
        return out
    }

    func fill(_ template: String, word: String, letter: String, ordinal: String) -> String {
        template.replacingOccurrences(of: "{word}", with: word).replacingOccurrences(of: "{letter}", with: letter)
            .replacingOccurrences(of: "{ordinal}", with: ordinal)
    }
}
