// Trivial baselines: what accuracy needs no model at all, and what reading the word's letters gives.
// A gain that does not beat the first kind is not evidence of a skill — a model answering "1" to
// every count question scores the share of words with one such letter.
//   majority              no knowledge: one constant answer, fitted on the validation split when the
//                         evaluation is of another split (else on the evaluated items: optimistic)
//   first_letter          spelling-informed oracle for letter answers: the word's first letter
//   most_frequent_letter  spelling-informed oracle for letter answers: its most frequent letter
// The oracles need the word's spelling, so they bound what spelling knowledge alone could give;
// they are never the floor a model must beat.
import Records

public enum Baselines {
    /// A rule's answer for each item (nil: the rule has no answer for it, which is wrong).
    public typealias Rule = (EvaluatedItem) -> String?

    /// The most common normalised gold answer (ties: the smallest in string order, so it never
    /// depends on item order); nil for no items.
    public static func majority(_ items: [EvaluatedItem]) -> String? {
        var counts: [String: Int] = [:]
        for r in items { counts[gold(r), default: 0] += 1 }
        return counts.max { a, b in a.value != b.value ? a.value < b.value : a.key > b.key }?.key
    }

    static func gold(_ r: EvaluatedItem) -> String { AnswerExtraction.normalizedGold(r.answerType, r.gold) }

    static func mostFrequentLetter(_ word: String) -> String? {
        let letters = Array(word.lowercased().filter(\.isLetter))
        var counts: [Character: Int] = [:]
        for ch in letters { counts[ch, default: 0] += 1 }
        var best: Character? = nil
        for ch in letters where best == nil || counts[ch, default: 0] > counts[best ?? ch, default: 0] { best = ch }
        return best.map(String.init)
    }

    /// The rules that apply to a group of items (all of one answer type), by name.
    /// Spelled sequences get none: every word has its own spelling, so no constant answer or
    /// letter rule can be right. A free-text or word answer gets the majority rule only when some
    /// answer repeats.
    public static func rules(for items: [EvaluatedItem], fitted: String? = nil) -> [NamedRule] {
        guard let type = items.first?.answerType, type != .letters, let m = fitted ?? majority(items) else { return [] }
        if fitted == nil, type == .word || type == .text, items.filter({ gold($0) == m }).count < 2 { return [] }
        var out = [NamedRule(name: "majority", answer: m, kind: BaselineScore.noKnowledge, fittedOn: fitted == nil ? "evaluated" : "validation", rule: { _ in m })]
        if items.first?.answerType == .letter, items.contains(where: { $0.word != nil }) {
            out.append(NamedRule(name: "first_letter", answer: nil, kind: BaselineScore.spellingInformed, fittedOn: nil,
                                 rule: { r in r.word.flatMap { $0.lowercased().first(where: \.isLetter) }.map(String.init) }))
            out.append(NamedRule(name: "most_frequent_letter", answer: nil, kind: BaselineScore.spellingInformed, fittedOn: nil,
                                 rule: { r in r.word.flatMap(mostFrequentLetter) }))
        }
        return out
    }

    /// A baseline rule with its name, its constant answer (if it has one), its kind and where it was fitted.
    public struct NamedRule {
        public var name: String
        public var answer: String?
        public var kind: String
        public var fittedOn: String?
        public var rule: Rule
        public var isNoKnowledge: Bool { kind == BaselineScore.noKnowledge }
    }

    /// Whether a rule's answer is right for an item.
    public static func correct(_ rule: Rule, _ r: EvaluatedItem) -> Bool {
        rule(r).map { $0 == gold(r) } ?? false
    }

    /// Fills a group's baselines, its accuracy off the majority answer, and per gold class.
    /// `fitted` is the constant answer chosen on the validation split, when the caller has it.
    public static func annotate(_ m: inout GroupMetrics, items rs: [EvaluatedItem], fitted: String? = nil) {
        // No majority rule (spellings; word or text answers that never repeat): no off-majority figure either.
        let all = rules(for: rs, fitted: fitted)
        guard all.contains(where: { $0.name == "majority" }), let majorityAnswer = majority(rs) else { return }
        for rule in all {
            m.baselines[rule.name] = BaselineScore(answer: rule.answer, Metrics.proportion(rs.map { correct(rule.rule, $0) }),
                                                   kind: rule.kind, fittedOn: rule.fittedOn)
        }
        let off = rs.filter { gold($0) != majorityAnswer }
        if !off.isEmpty { m.nonMajority = Metrics.proportion(off.map(\.correct)) }
        guard let type = rs.first?.answerType, [.number, .letter, .yesNo].contains(type) else { return }
        var classes: [String: [Int]] = [:]
        for r in rs {
            var cell = classes[gold(r), default: [0, 0]]
            cell[0] += 1
            if r.correct { cell[1] += 1 }
            classes[gold(r)] = cell
        }
        // Summed in a fixed order so the same items always give the same bits.
        let recalls = classes.keys.sorted().compactMap { classes[$0] }.map { Double($0[1]) / Double($0[0]) }
        m.balancedAccuracy = recalls.reduce(0, +) / Double(recalls.count)
        // 26 letter classes make a table nobody reads; numbers and yes/no are kept per class.
        if type != .letter { m.byGoldClass = classes }
    }
}
