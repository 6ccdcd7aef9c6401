import Foundation

/// A parsed chat template, rendered the way transformers' `apply_chat_template` renders it: jinja2's
/// ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and loop controls, transformers' `tojson`,
/// `raise_exception` and `strftime_now`. Parse once, render many times; bounded by `limits`.
public struct ChatTemplate: Sendable {
    public let source: String
    public var limits: ChatTemplateLimits
    public var environment: ChatTemplateEnvironment
    private let body: [JinjaStatement]

    /// Parses `source`; syntax errors come back as `ChatTemplateError.syntax` with the line.
    public init(_ source: String, limits: ChatTemplateLimits = ChatTemplateLimits(),
                environment: ChatTemplateEnvironment = ChatTemplateEnvironment()) throws {
        self.source = source
        self.limits = limits
        self.environment = environment
        self.body = try JinjaParser.parse(source)
    }

    /// Renders with exactly these variables (plus the globals).
    public func render(_ context: [String: JinjaValue]) throws -> String {
        let interpreter = JinjaInterpreter(context: context, limits: limits, environment: environment)
        return try interpreter.render(body)
    }

    /// Renders a conversation with the variables `apply_chat_template` passes: `messages` (keys whose value
    /// is None dropped, reasoning aliased as transformers does), `tools` and `documents` (None unless
    /// given in `extra`), `add_generation_prompt`, the special tokens, then everything in `extra`.
    public func render(messages: [JinjaValue], addGenerationPrompt: Bool, bosToken: String?, eosToken: String?,
                       extra: [String: JinjaValue] = [:]) throws -> String {
        var context: [String: JinjaValue] = [
            "messages": .array(try messages.enumerated().map { try Self.normalize($0.element, index: $0.offset) }),
            "tools": .none,
            "documents": .none,
            "add_generation_prompt": .bool(addGenerationPrompt),
        ]
        if let bosToken { context["bos_token"] = .string(bosToken) }
        if let eosToken { context["eos_token"] = .string(eosToken) }
        for (key, value) in extra { context[key] = value }
        return try render(context)
    }

    /// transformers' `_normalize_chat_messages` (drop None-valued keys) and `_alias_reasoning_fields`
    /// (`thinking` first and `reasoning_content` last carry the message's reasoning, whichever name it used).
    static func normalize(_ message: JinjaValue, index: Int) throws -> JinjaValue {
        guard case .object(let original) = message else {
            throw ChatTemplateError.invalidContext("message \(index) is a \(message.typeName), expected a dict")
        }
        var object = JinjaObject(original.pairs.filter { !($0.1 == .none) })
        let reasoning = ["reasoning_content", "thinking", "reasoning"].lazy.compactMap { object[$0] }.first
        if let reasoning {
            var aliased = JinjaObject()
            aliased["thinking"] = reasoning
            for (k, v) in object.pairs { aliased[k] = v }
            aliased["reasoning_content"] = reasoning
            object = aliased
        }
        return .object(object)
    }
}
