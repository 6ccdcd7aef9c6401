import Foundation

/// Bounds that stop a hostile or buggy template. Chat templates from the Hub are untrusted code.
public struct ChatTemplateLimits: Sendable {
    /// Statements plus expression nodes evaluated.
    public var maxSteps: Int = 10_000_000
    /// UTF-8 bytes of output, also the largest string or list any single operation may build.
    public var maxOutputBytes: Int = 16 << 20
    /// Nested macro calls / expression depth.
    public var maxDepth: Int = 100
    /// How deeply values may nest (lists in dicts in namespaces...). Printing, comparing, serialising and
    /// freeing a value all recurse over it, so a template that wraps a value in itself in a loop is
    /// stopped here, before any of those could exhaust the thread's stack. Namespace cycles too.
    public var maxNesting: Int = 128
    public init() {}
}

/// What the template's globals need from the outside world.
public struct ChatTemplateEnvironment: Sendable {
    /// The clock `strftime_now` reads.
    public var now: @Sendable () -> Date = { Date() }
    /// The zone `strftime_now` formats in (Python's `datetime.now()` is local time).
    public var timeZone: TimeZone = .current
    public init() {}
}

enum JinjaFlow { case normal, breakLoop, continueLoop }

/// Walks the AST for one render. Not shared between threads: a fresh instance per `render` call.
final class JinjaInterpreter {
    var scopes: [[String: JinjaValue]]
    private var buffers: [String] = [""]
    private var steps = 0
    private var outputBytes = 0
    var depth = 0
    var line = 0
    /// Set while evaluating a `{{ }}` whose expression jinja2 would fold at compile time.
    var foldingConstantOutput = false
    let limits: ChatTemplateLimits
    let environment: ChatTemplateEnvironment
    private(set) var globals: [String: JinjaValue] = [:]

    init(context: [String: JinjaValue], limits: ChatTemplateLimits, environment: ChatTemplateEnvironment) {
        self.scopes = [context]
        self.limits = limits
        self.environment = environment
        self.globals = JinjaGlobals.make(self)
    }

    func render(_ body: [JinjaStatement]) throws -> String {
        _ = try execute(body)
        return buffers[0]
    }

    // MARK: errors and bounds

    func error(_ message: String) -> ChatTemplateError { .runtime(message, line: line) }

    func step() throws {
        steps += 1
        if steps > limits.maxSteps {
            throw ChatTemplateError.limitExceeded("more than \(limits.maxSteps) evaluation steps (line \(line))")
        }
    }

    /// Rejects a string or list an operation is about to build when it alone exceeds the output bound.
    func checkSize(_ count: Int) throws {
        if count > limits.maxOutputBytes {
            throw ChatTemplateError.limitExceeded("a value of \(count) elements exceeds the \(limits.maxOutputBytes) limit (line \(line))")
        }
    }

    /// Throws when `value` nests deeper than `limits.maxNesting` (a namespace cycle counts as infinite).
    /// Each container visited costs a step, so the check itself stays within the budget.
    func checkNesting(_ value: JinjaValue, startDepth: Int = 0) throws {
        var stack: [(JinjaValue, Int)] = [(value, startDepth)]
        while let (v, d) = stack.popLast() {
            try step()
            if d > limits.maxNesting {
                throw ChatTemplateError.limitExceeded("values nested deeper than \(limits.maxNesting) levels (line \(line))")
            }
            func push(_ children: [JinjaValue]) {
                for child in children {
                    switch child {
                    case .array, .tuple, .object, .namespace: stack.append((child, d + 1))
                    default: break
                    }
                }
            }
            switch v {
            case .array(let a), .tuple(let a): push(a)
            case .object(let o): push(o.values)
            case .namespace(let ns): push(ns.attributes.values)
            default: break
            }
        }
    }

    /// A freshly built container: checked only when it holds other containers.
    func wrapped(_ value: JinjaValue) throws -> JinjaValue {
        let children: [JinjaValue]
        switch value {
        case .array(let a), .tuple(let a): children = a
        case .object(let o): children = o.values
        default: return value
        }
        if children.contains(where: { switch $0 { case .array, .tuple, .object, .namespace: return true; default: return false } }) {
            try checkNesting(value)
        }
        return value
    }

    private func write(_ text: String) throws {
        outputBytes += text.utf8.count
        if outputBytes > limits.maxOutputBytes {
            throw ChatTemplateError.limitExceeded("output exceeds \(limits.maxOutputBytes) bytes (line \(line))")
        }
        buffers[buffers.count - 1] += text
    }

    /// Runs `body` with its output captured instead of written.
    func capture(_ body: () throws -> Void) throws -> String {
        buffers.append("")
        defer { buffers.removeLast() }
        try body()
        return buffers[buffers.count - 1]
    }

    // MARK: variables

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() {
            if let v = scope[name] { return v }
        }
        return globals[name] ?? .undefined
    }

    func assign(_ name: String, _ value: JinjaValue) {
        scopes[scopes.count - 1][name] = value
    }

    private func bind(_ target: JinjaTarget, _ value: JinjaValue) throws {
        switch target {
        case .name(let n):
            assign(n, value)
        case .tuple(let targets):
            let items = try iterate(value)
            guard items.count == targets.count else {
                throw error(items.count > targets.count ? "too many values to unpack (expected \(targets.count))"
                            : "not enough values to unpack (expected \(targets.count), got \(items.count))")
            }
            for (t, v) in zip(targets, items) { try bind(t, v) }
        case let .attribute(object, attr):
            guard case .namespace(let ns) = lookup(object) else {
                throw error("cannot assign attribute on non-namespace object")
            }
            try JinjaGlobals.checkNamespaceName(attr, self)
            let previous = ns.attributes[attr]
            ns.attributes[attr] = value
            do {
                // Walk only the new value (a cycle back to `ns` shows up as unbounded depth).
                switch value {
                case .array, .tuple, .object, .namespace: try checkNesting(value, startDepth: 1)
                default: break
                }
            } catch {
                ns.attributes[attr] = previous  // never leave a cycle behind
                throw error
            }
        }
    }

    /// Python iteration: lists, tuples, strings (by code point), dict keys; undefined iterates as empty.
    func iterate(_ value: JinjaValue) throws -> [JinjaValue] {
        switch value {
        case .array(let a), .tuple(let a): return a
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .object(let o): return o.keys.map { .string($0) }
        case .undefined: return []
        default: throw error("'\(value.typeName)' object is not iterable")
        }
    }

    // MARK: statements

    func execute(_ body: [JinjaStatement]) throws -> JinjaFlow {
        for statement in body {
            let flow = try execute(statement)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func execute(_ statement: JinjaStatement) throws -> JinjaFlow {
        try step()
        line = statement.line
        switch statement.kind {
        case .text(let t):
            try write(t)
        case .output(let expr):
            foldingConstantOutput = JinjaInterpreter.isConstant(expr)
            defer { foldingConstantOutput = false }
            let value = try evaluate(expr)
            line = statement.line
            try write(JinjaPythonFormat.str(value))
        case let .ifChain(branches, otherwise):
            for (condition, body) in branches where try evaluate(condition).isTruthy {
                return try execute(body)
            }
            return try execute(otherwise)
        case let .forLoop(target, iterable, condition, body, otherwise, usesLoop):
            return try executeFor(target, iterable, condition, body, otherwise, usesLoop)
        case let .set(target, expr):
            try bind(target, try evaluate(expr))
        case let .setBlock(name, filters, body):
            // Block bodies get their own scope: a `set` inside does not leak out (jinja2 frame.inner()).
            var value = JinjaValue.string(try capture { _ = try executeScoped(body) })
            value = try applyFilters(filters, to: value)
            assign(name, value)
        case .macro(let definition):
            assign(definition.name, .callable(makeMacro(definition)))
        case let .callBlock(call, callerParameters, body):
            guard case let .call(callee, args) = call else { throw error("invalid call block") }
            let caller = makeMacro(JinjaMacro(name: "caller", parameters: callerParameters, body: body))
            var arguments = try evaluateArguments(args)
            arguments.keyword.append(("caller", .callable(caller)))
            try write(JinjaPythonFormat.str(try callValue(try evaluate(callee), arguments)))
        case let .filterBlock(filters, body):
            let text = try capture { _ = try executeScoped(body) }
            try write(JinjaPythonFormat.str(try applyFilters(filters, to: .string(text))))
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        case .generation(let body):
            return try execute(body)
        case let .scoped(bindings, body):
            // Values are evaluated in the enclosing scope, then bound in the new one.
            let values = try bindings.map { try evaluate($0.1) }
            scopes.append([:])
            defer { scopes.removeLast() }
            for (binding, value) in zip(bindings, values) { try bind(binding.0, value) }
            return try execute(body)
        case .needsLoader(let tag):
            throw error("'\(tag)' needs a template loader, and chat templates have none")
        }
        return .normal
    }

    private func executeScoped(_ body: [JinjaStatement]) throws -> JinjaFlow {
        scopes.append([:])
        defer { scopes.removeLast() }
        return try execute(body)
    }

    private func applyFilters(_ filters: [JinjaFilterCall], to value: JinjaValue) throws -> JinjaValue {
        var v = value
        for f in filters { v = try JinjaFilters.apply(f.name, v, try evaluateArguments(f.arguments), self) }
        return v
    }

    private func executeFor(_ target: JinjaTarget, _ iterable: JinjaExpr, _ condition: JinjaExpr?, _ body: [JinjaStatement],
                            _ otherwise: [JinjaStatement], _ usesLoop: Bool) throws -> JinjaFlow {
        var items = try iterate(try evaluate(iterable))
        if let condition {
            // The `if` clause filters before loop.* is computed, as in jinja2.
            var kept: [JinjaValue] = []
            for item in items {
                try step()
                scopes.append([:])
                defer { scopes.removeLast() }
                try bind(target, item)
                if try evaluate(condition).isTruthy { kept.append(item) }
            }
            items = kept
        }
        let n = items.count
        // jinja2 clears its "no iteration" flag at the end of the loop body, so iterations left through
        // `break` or `continue` do not count: the else block runs unless some iteration ran to its end.
        var completedIteration = false
        for (i, item) in items.enumerated() {
            // A fresh scope per iteration: jinja2 does not carry `set` values from one iteration to the next.
            try step()
            scopes.append(usesLoop ? ["loop": .object(loopObject(items, i, n))] : [:])
            defer { scopes.removeLast() }
            try bind(target, item)
            let flow = try execute(body)
            if flow == .normal { completedIteration = true }
            if flow == .breakLoop { break }
        }
        if !completedIteration && !otherwise.isEmpty { _ = try executeScoped(otherwise) }
        return .normal
    }

    private func loopObject(_ items: [JinjaValue], _ i: Int, _ n: Int) -> JinjaObject {
        var loop = JinjaObject()
        loop["index"] = .int(i + 1)
        loop["index0"] = .int(i)
        loop["revindex"] = .int(n - i)
        loop["revindex0"] = .int(n - i - 1)
        loop["first"] = .bool(i == 0)
        loop["last"] = .bool(i == n - 1)
        loop["length"] = .int(n)
        loop["depth"] = .int(1)
        loop["depth0"] = .int(0)
        if i > 0 { loop["previtem"] = items[i - 1] }
        if i + 1 < n { loop["nextitem"] = items[i + 1] }
        loop["cycle"] = .callable(JinjaCallable(name: "cycle") { args in
            guard !args.positional.isEmpty else { throw self.error("no items for cycling given") }
            return args.positional[i % args.positional.count]
        })
        return loop
    }

    // MARK: macros and calls

    /// Macros are closures: they read the template's top level live (a later top-level `set` is seen, as
    /// in jinja2) and the enclosing loop/block frames as they were at definition. A call block's `caller`
    /// is defined at the call site, so it sees the loop variables around it.
    private func makeMacro(_ definition: JinjaMacro) -> JinjaCallable {
        let enclosing = Array(scopes.dropFirst())
        return JinjaCallable(name: definition.name) { [unowned self] args in
            try self.callMacro(definition, enclosing, args)
        }
    }

    private func callMacro(_ definition: JinjaMacro, _ enclosing: [[String: JinjaValue]],
                           _ args: JinjaArguments) throws -> JinjaValue {
        depth += 1
        defer { depth -= 1 }
        if depth > limits.maxDepth {
            throw ChatTemplateError.limitExceeded("macro calls nested deeper than \(limits.maxDepth) (line \(line))")
        }
        // Macros see the template's top-level variables and their own arguments.
        let saved = scopes
        scopes = [saved[0]] + enclosing + [[:]]
        defer {
            // Top-level assignments made inside... cannot happen (the body has its own frame), but the
            // live top level may have been changed by nested calls; keep it.
            let top = scopes[0]
            scopes = saved
            scopes[0] = top
        }
        var keyword = args.keyword
        for (i, (name, defaultExpr)) in definition.parameters.enumerated() {
            if i < args.positional.count {
                assign(name, args.positional[i])
            } else if let k = keyword.firstIndex(where: { $0.0 == name }) {
                assign(name, keyword[k].1)
                keyword.remove(at: k)
            } else if let defaultExpr {
                assign(name, try evaluate(defaultExpr))
            } else {
                assign(name, .undefined)
            }
        }
        let extra = Array(args.positional.dropFirst(definition.parameters.count))
        assign("varargs", .tuple(extra))
        if let k = keyword.firstIndex(where: { $0.0 == "caller" }) {
            assign("caller", keyword[k].1)
            keyword.remove(at: k)
        }
        assign("kwargs", .object(JinjaObject(keyword)))
        let text = try capture { _ = try execute(definition.body) }
        return .string(text)
    }

    func evaluateArguments(_ args: [JinjaArgument]) throws -> JinjaArguments {
        var result = JinjaArguments()
        for arg in args {
            switch arg {
            case .positional(let e): result.positional.append(try evaluate(e))
            case let .keyword(k, e): result.keyword.append((k, try evaluate(e)))
            }
        }
        return result
    }

    func callValue(_ callee: JinjaValue, _ args: JinjaArguments) throws -> JinjaValue {
        switch callee {
        case .callable(let fn): return try fn.body(args)
        case .undefined: throw error("undefined value is not callable")
        default: throw error("'\(callee.typeName)' object is not callable")
        }
    }
}
