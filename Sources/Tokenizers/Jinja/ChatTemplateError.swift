import Foundation

/// Everything that can go wrong compiling or rendering a chat template.
public enum ChatTemplateError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The template does not parse (jinja2's TemplateSyntaxError / TemplateAssertionError).
    case syntax(String, line: Int)
    /// The template called `raise_exception(message)`; carries the template's own message.
    case raised(String)
    /// An error jinja2 raises while rendering (undefined attribute, type error, sandbox refusal...).
    case runtime(String, line: Int)
    /// The render hit a safety bound (steps, output size, recursion depth).
    case limitExceeded(String)
    /// The context handed to the renderer is malformed (bad JSON, non-dict message...).
    case invalidContext(String)

    public var description: String {
        switch self {
        case let .syntax(message, line): return "chat template syntax error (line \(line)): \(message)"
        case let .raised(message): return "chat template raised: \(message)"
        case let .runtime(message, line): return "chat template error (line \(line)): \(message)"
        case let .limitExceeded(message): return "chat template stopped: \(message)"
        case let .invalidContext(message): return "chat template context: \(message)"
        }
    }

    /// The message without location, for comparing with jinja2's `str(exception)`.
    public var message: String {
        switch self {
        case let .syntax(m, _), let .raised(m), let .runtime(m, _), let .limitExceeded(m), let .invalidContext(m):
            return m
        }
    }
}
