// The training split of each experiment arm, and spelling across token boundaries.
//
// Every arm shares the validation and test words and questions (drawn before any of this, from the
// same seed), so arms differ only in what training shows:
//   spelling  vocabulary tokens spelled out, plus `joins`: pseudo-words of 2–3 training tokens, so
//             the model can learn to join tokens' spellings without ever seeing an evaluated word
//   control   the same words and prompts, the completion's letters replaced by the word repeated a
//             fixed number of times (one k for the whole dataset, chosen so the mean completion
//             length in tokens matches the spelling arm's): same format and budget, no letters
//   positive  the spelling arm plus one count or position question per training token (spell then
//             answer, or the bare answer): training on the target tasks, the ceiling
// The extra items draw from their own random streams, so a dataset without them is byte-identical
// to one built before arms existed.
import Records
import TensorCore
import Tokenization

enum ArmBuilder {
    /// Pseudo-words joining `minTokens…maxTokens` training tokens, `count` of them (fewer if the
    /// attempts run out), each a lower-case letter string of the evaluated words' lengths that is no
    /// word of the word list, no vocabulary token and no validation or test word.
    static func joins(from train: [VocabularyToken], count: Int, config c: DatasetConfig, joins j: JoinsConfig,
                      forbidden: Set<String>, rng: inout SplitMix64) -> [(text: String, ids: [Int])] {
        guard count > 0, train.count >= 2 else { return [] }
        var out: [(text: String, ids: [Int])] = [], seen = Set<String>()
        var attempts = 0
        while out.count < count && attempts < count * 50 {
            attempts += 1
            let n = j.minTokens + rng.below(j.maxTokens - j.minTokens + 1)
            let parts = (0..<n).map { _ in train[rng.below(train.count)] }
            let text = parts.map(\.text).joined()
            guard (c.wordMinLength...c.wordMaxLength).contains(text.count), Letters.isLowerASCIIWord(text),
                  !forbidden.contains(text), seen.insert(text).inserted else { continue }
            out.append((text, parts.map { $0.sourceIds.first ?? -1 }))
        }
        return out
    }

    /// The control arm's repetition count: the k whose completions ("word word … word", k times)
    /// come closest in mean token count to the spelling completions they replace.
    static func controlRepeats(_ examples: [SpellingExample], templates: [String: SpellingTemplate], tokenizer: Tokenizer) -> Int {
        let sample = examples.prefix(2000)
        guard !sample.isEmpty else { return 1 }
        let target = sample.reduce(0) { $0 + tokenizer.encodeOrdinary($1.completion).count }
        var best = (k: 1, gap: Int.max)
        for k in 1...16 {
            let total = sample.reduce(0) { $0 + tokenizer.encodeOrdinary(controlCompletion($1, repeats: k, templates: templates)).count }
            if abs(total - target) < best.gap { best = (k, abs(total - target)) }
        }
        return best.k
    }

    /// A spelling example's completion with its spelling replaced by the word repeated `repeats` times.
    static func controlCompletion(_ e: SpellingExample, repeats: Int, templates: [String: SpellingTemplate]) -> String {
        let filler = Array(repeating: e.word, count: repeats).joined(separator: " ")
        guard let t = templates[e.template] else { return filler }
        return t.completion.replacingOccurrences(of: "{spelling}", with: filler).replacingOccurrences(of: "{word}", with: e.word)
    }

    /// The positive arm's question items: per training token one count or position question, asked
    /// directly (completion: the bare answer) or spell-first (the dashed spelling, a line break, the answer).
    static func questions(_ train: [VocabularyToken], factory: ItemFactory, rng: inout SplitMix64) -> [SpellingExample] {
        train.map { tok in
            let qs = factory.questions(tok.text, split: "train", rng: &rng)
            let task: EvalTask = rng.below(2) == 0 ? .count : .position
            let style: PromptStyle = rng.below(2) == 0 ? .direct : .spellFirst
            let q = qs[task]?[style]
            let answer = q?.answer ?? ""
            let completion = style == .direct ? answer : tok.text.map(String.init).joined(separator: "-") + "\n" + answer
            var e = SpellingExample(word: tok.text, prompt: q?.prompt ?? "", completion: completion, template: "question-\(style.rawValue)",
                                    split: "train", source: "vocabulary", sourceTokenIds: tok.sourceIds)
            e.task = task.rawValue
            return e
        }
    }
}
