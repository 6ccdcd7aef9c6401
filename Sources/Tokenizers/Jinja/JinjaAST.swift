import Foundation

enum JinjaArgument: Sendable {
    case positional(JinjaExpr)
    case keyword(String, JinjaExpr)
}

enum JinjaBinaryOp: String, Sendable {
    case add = "+", sub = "-", mul = "*", div = "/", floorDiv = "//", mod = "%", pow = "**", concat = "~"
}

enum JinjaCompareOp: String, Sendable {
    case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">=", isIn = "in", notIn = "not in"
}

indirect enum JinjaExpr: Sendable {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpr])
    case tuple([JinjaExpr])
    case dict([(JinjaExpr, JinjaExpr)])
    case attribute(JinjaExpr, String)
    case item(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, start: JinjaExpr?, stop: JinjaExpr?, step: JinjaExpr?)
    case call(JinjaExpr, [JinjaArgument])
    case filter(JinjaExpr, name: String, [JinjaArgument])
    case test(JinjaExpr, name: String, [JinjaArgument], negated: Bool)
    case negate(JinjaExpr)
    case plus(JinjaExpr)
    case not(JinjaExpr)
    case binary(JinjaBinaryOp, JinjaExpr, JinjaExpr)
    case and(JinjaExpr, JinjaExpr)
    case or(JinjaExpr, JinjaExpr)
    case compare(JinjaExpr, [(JinjaCompareOp, JinjaExpr)])
    case conditional(test: JinjaExpr, then: JinjaExpr, otherwise: JinjaExpr?)
}

/// The left side of `set` and `for`.
indirect enum JinjaTarget: Sendable {
    case name(String)
    case tuple([JinjaTarget])
    /// `ns.attr` (only namespaces accept it at run time).
    case attribute(String, String)
}

struct JinjaMacro: Sendable {
    let name: String
    let parameters: [(String, JinjaExpr?)]
    let body: [JinjaStatement]
}

struct JinjaFilterCall: Sendable {
    let name: String
    let arguments: [JinjaArgument]
}

indirect enum JinjaStatementKind: Sendable {
    case text(String)
    case output(JinjaExpr)
    case ifChain([(JinjaExpr, [JinjaStatement])], otherwise: [JinjaStatement])
    /// `usesLoop`: whether the body mentions `loop`; when not, the per-iteration loop object is skipped.
    case forLoop(target: JinjaTarget, iterable: JinjaExpr, condition: JinjaExpr?, body: [JinjaStatement],
                 otherwise: [JinjaStatement], usesLoop: Bool)
    case set(JinjaTarget, JinjaExpr)
    case setBlock(String, filters: [JinjaFilterCall], body: [JinjaStatement])
    case macro(JinjaMacro)
    case callBlock(call: JinjaExpr, callerParameters: [(String, JinjaExpr?)], body: [JinjaStatement])
    case filterBlock([JinjaFilterCall], body: [JinjaStatement])
    case breakLoop
    case continueLoop
    /// transformers' `{% generation %}` extension: renders its body unchanged.
    case generation([JinjaStatement])
    /// `{% with a = 1 %}...{% endwith %}` and `{% block name %}...{% endblock %}`: the body in a new scope
    /// (a block in a template that extends nothing renders in place).
    case scoped([(JinjaTarget, JinjaExpr)], body: [JinjaStatement])
    /// `include`, `import`, `from`, `extends`: they parse, but with no template loader (as in
    /// transformers) they fail when reached.
    case needsLoader(String)
}

struct JinjaStatement: Sendable {
    let kind: JinjaStatementKind
    let line: Int
}
