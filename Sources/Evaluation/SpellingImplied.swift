// "The spelling knows / the model says": for every count or position item whose word the model was
// also asked to spell (the spelling question about the same word, same mode and sample), the answer
// that spelling implies — the asked letter counted in it, or the letter at the asked position. Set
// beside the model's own answer, it locates a failure: between knowing the letters (the implied
// answer is right) and using them (the model's answer is wrong), or in the letters themselves.
import Records

public enum SpellingImplied {
    /// Fills `implied` on each count and position item (generated or likelihood-scored) whose word
    /// has a generated spelling answer in `items`; clears it elsewhere. The direct-style spelling is
    /// preferred when both styles were asked.
    public static func annotate(_ items: inout [EvaluatedItem]) {
        var spelled: [String: EvaluatedItem] = [:]
        for r in items where r.task == EvalTask.spelling.rawValue && r.answerType == .letters && !r.isLikelihood {
            guard let w = r.word else { continue }
            let key = "\(w.lowercased())#\(r.mode)#\(r.sample)"
            if let have = spelled[key], have.style == PromptStyle.direct.rawValue { continue }
            spelled[key] = r
        }
        for i in items.indices {
            items[i].implied = nil
            let r = items[i]
            guard r.task == EvalTask.count.rawValue || r.task == EvalTask.position.rawValue, let w = r.word,
                  let s = spelled["\(w.lowercased())#\(r.mode)#\(r.sample)"] ?? spelled["\(w.lowercased())#\(r.mode)#0"] else { continue }
            let letters = s.parsed.map(Array.init) ?? []
            let answer = s.parsed == nil ? nil : implied(r, letters: letters)
            items[i].implied = ImpliedAnswer(spelling: s.parsed, answer: answer,
                                             correct: answer != nil && answer == AnswerExtraction.normalizedGold(r.answerType, r.gold),
                                             spellingCorrect: s.parsed == w.lowercased())
        }
    }

    /// What `letters` (a spelling, lower case) says about item `r`'s question.
    static func implied(_ r: EvaluatedItem, letters: [Character]) -> String? {
        switch r.answerType {
        case .number:
            guard let l = r.metadata.letter?.lowercased(), l.count == 1, let c = l.first else { return nil }
            return String(letters.filter { $0 == c }.count)
        case .letter:
            if r.metadata.ordinal == "last" { return letters.last.map(String.init) }
            guard let p = r.metadata.position, p >= 1, p <= letters.count else { return nil }
            return String(letters[p - 1])
        default: return nil
        }
    }
}
