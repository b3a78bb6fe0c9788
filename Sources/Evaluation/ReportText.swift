// The reports' Markdown pieces: a section's title and prose, table headers from their columns. The
// report code (Report.swift) holds the structure and the numbers; the prose lives here, as prose.

enum Markdown {
    /// "## title\n\n" and the prose as a paragraph, when there is one.
    static func section(_ title: String, _ prose: String? = nil) -> String {
        "## \(title)\n\n" + (prose.map { $0 + "\n\n" } ?? "")
    }

    /// "| a | b |\n|---|---:|\n": the first `left` columns left-aligned (labels), the rest right-aligned (numbers).
    static func tableHeader(_ columns: [String], left: Int = 1) -> String {
        "| " + columns.joined(separator: " | ") + " |\n|" + columns.indices.map { $0 < left ? "---|" : "---:|" }.joined() + "\n"
    }
}

/// What each section of the comparison report measures, in words.
enum ReportProse {
    static let byTask = """
        McNemar p: exact, on the paired items of the group (clustered by question when a question was sampled \
        more than once). Baseline: the strongest trivial rule on the same items; "vs baseline p" tests the \
        fine-tuned model against it (exact McNemar, two-sided). Off-majority: accuracy on items whose gold \
        answer is not the majority answer.
        """

    static let criteria = """
        Each task pooled over prompt styles. A word's two items (direct and spell-first) are not independent, so \
        the tests are exact McNemar tests clustered by word (sign-flip randomisation of the per-word \
        differences) and the interval of the change is a word-cluster bootstrap; the tests against the base \
        model are Holm-adjusted as one family, the tests against baselines (tasks that have one) as another.
        """

    static let baselines = """
        Accuracy with no model at all, on the same questions (pooled over prompt styles): the majority gold \
        answer always, and for positions the word's first letter or its most frequent letter.
        """

    static let transfer = """
        Per word, does spelling it well go with counting / locating its letters right? phi: exact spelling \
        (right/wrong) against task correctness; point-biserial r: spelling character accuracy (continuous, \
        defined even when exact spelling is never right) against task correctness; 95 % word-bootstrap \
        intervals. Transfer efficiency = task accuracy gain ÷ spelling gain, defined only when the spelling gain \
        is clear (exact: McNemar p < 0.05; character accuracy: interval above 0).
        """

    static let modes = """
        Each task pooled over prompt styles; every thinking sample is paired with the non-thinking answer to the \
        same question. Change = thinking − non-thinking accuracy over those pairs, with a word-cluster bootstrap \
        interval; p: exact McNemar clustered by word, Holm-adjusted over the run's tasks. Tokens: mean generated \
        tokens per answer [95 % bootstrap].
        """
}
