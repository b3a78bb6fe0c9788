// A model's chat template (the Jinja source shipped in tokenizer_config.json or GGUF
// `tokenizer.chat_template`), compiled once and rendered like transformers'
// `apply_chat_template(messages, add_generation_prompt=..., enable_thinking=...)`.
import Foundation

public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

public struct ChatTemplate: Sendable {
    public let source: String
    let nodes: [TemplateNode]

    public init(_ source: String) throws {
        self.source = source
        var parser = TemplateParser(pieces: try TemplateLexer.lex(source))
        nodes = try parser.block(until: []).0
    }

    /// Renders the conversation. `enableThinking` nil leaves the variable undefined (the template's default).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true, enableThinking: Bool? = nil,
                       bosToken: String = "", eosToken: String = "") throws -> String {
        var globals: [String: TemplateValue] = [
            "messages": .array(messages.map { .dict([("role", .string($0.role)), ("content", .string($0.content))]) }),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken), "eos_token": .string(eosToken),
        ]
        if let enableThinking { globals["enable_thinking"] = .bool(enableThinking) }
        let interpreter = TemplateInterpreter(globals: globals)
        try interpreter.run(nodes)
        return interpreter.out
    }
}

extension TemplateNode: @unchecked Sendable {}
