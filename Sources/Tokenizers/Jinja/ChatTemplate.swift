import Foundation

// What is covered, and where this renderer knowingly differs from jinja2 (see Tests/Fixtures/templates and
// Scripts/fixtures/make_template_refs.py for the reference cases, all rendered by transformers 5.24):
// - Statements: if/elif/else, for (else, `if` filter, unpacking, loop.*, break/continue), set (targets,
//   tuples, `ns.attr`, block set with filters), macro (defaults, varargs/kwargs, caller), call, filter,
//   with, block (inline), raw, comments, transformers' generation tag. include/import/from/extends parse
//   but fail when reached (no loader, as in transformers); recursive for loops are refused.
// - Whitespace: trim_blocks, lstrip_blocks, `-` and `+` modifiers, newline normalisation, one trailing
//   newline dropped: byte-exact against jinja2 on random layouts.
// - Values print with Python's str()/repr(); Python numeric/string/list semantics, jinja2's Undefined.
// - Known differences: `escape` results are plain strings (jinja2 shows Markup('...') when one is printed
//   inside a list); jinja2's compile-time folding of constant expressions is mirrored only for a fully
//   constant `{{ }}` (it changes errors from slicing literals into Undefined); dict keys must be strings;
//   list.pop/clear are refused; the filters groupby, slice, pprint, random, striptags, urlencode, urlize,
//   wordwrap, xmlattr and filesizeformat parse but are not implemented.
// - Bounds: ChatTemplateLimits (steps, output bytes, macro/expression depth, value nesting).

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

    /// Picks the template source from a tokenizer_config.json `chat_template` value the way transformers'
    /// `get_chat_template` does: a string is the template; a list of `{"name", "template"}` (or a dict of
    /// name -> template) yields the named one, else "tool_use" when tools are passed, else "default".
    public static func selectSource(_ field: JinjaValue, name: String? = nil, hasTools: Bool = false) throws -> String {
        var named: [(String, String)] = []
        switch field {
        case .string(let s): return s
        case .array(let items):
            for item in items {
                guard case .object(let o) = item, case .string(let n)? = o["name"], case .string(let t)? = o["template"] else {
                    throw ChatTemplateError.invalidContext("chat_template list entries need string 'name' and 'template'")
                }
                named.append((n, t))
            }
        case .object(let o):
            for (n, v) in o.pairs {
                guard case .string(let t) = v else { throw ChatTemplateError.invalidContext("chat_template '\(n)' is not a string") }
                named.append((n, t))
            }
        default:
            throw ChatTemplateError.invalidContext("chat_template is a \(field.typeName), expected a string or named templates")
        }
        func find(_ wanted: String) -> String? { named.first { $0.0 == wanted }?.1 }
        if let name {
            guard let t = find(name) else {
                throw ChatTemplateError.invalidContext("no chat template named '\(name)'; have \(named.map(\.0).sorted())")
            }
            return t
        }
        if hasTools, let t = find("tool_use") { return t }
        if let t = find("default") { return t }
        throw ChatTemplateError.invalidContext("multiple chat templates and no 'default': \(named.map(\.0).sorted())")
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
