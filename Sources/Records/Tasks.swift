// The vocabulary every module shares: what is asked, how, and in which chat mode.

/// What a question asks for.
public enum EvalTask: String, CaseIterable, Codable, Sendable { case spelling, count, position }

/// How a question asks: for the answer only, or to spell the word first and then answer.
public enum PromptStyle: String, CaseIterable, Codable, Sendable {
    case direct
    case spellFirst = "spell_first"
}

/// Qwen3 chat mode an evaluation runs in (other models: non-thinking only).
public enum EvalMode: String, CaseIterable, Codable, Sendable {
    case nonThinking = "non-thinking"
    case thinking
}
