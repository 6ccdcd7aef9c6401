import Foundation

/// Recursive-descent parser mirroring jinja2's `parser.py`, so operator precedence and the odd corners
/// (unary minus binding tighter than `**`, filters applying after postfix, `is` tests taking one bare
/// argument) come out the same.
struct JinjaParser {
    private let tokens: [JinjaToken]
    private var index = 0
    private var depth = 0
    /// How many times the name `loop` has been parsed so far (to tell which for bodies use it).
    private var loopReferences = 0
    private static let maxDepth = 200

    static func parse(_ source: String) throws -> [JinjaStatement] {
        var parser = JinjaParser(tokens: try JinjaLexer.tokenize(source))
        let (body, end) = try parser.subparse(until: [])
        if let end { throw ChatTemplateError.syntax("Encountered unknown tag '\(end)'.", line: parser.current.line) }
        return body
    }

    private init(tokens: [JinjaToken]) { self.tokens = tokens }

    // MARK: token helpers

    private var current: JinjaToken { tokens[index] }
    private func peek(_ offset: Int = 1) -> JinjaTokenKind { tokens[min(index + offset, tokens.count - 1)].kind }

    private mutating func advance() { if index < tokens.count - 1 { index += 1 } }

    private func fail(_ message: String) -> ChatTemplateError { .syntax(message, line: current.line) }

    private func describe(_ kind: JinjaTokenKind) -> String {
        switch kind {
        case .text: return "template data"
        case .variableBegin: return "begin of print statement"
        case .variableEnd: return "end of print statement"
        case .blockBegin: return "begin of statement block"
        case .blockEnd: return "end of statement block"
        case .name(let n): return n
        case .string(let s): return JinjaPythonFormat.stringRepr(s)
        case .integer(let i): return String(i)
        case .float(let d): return JinjaPythonFormat.floatRepr(d)
        case .op(let o): return o
        case .eof: return "end of template"
        }
    }

    private func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    private func isName(_ name: String) -> Bool { current.kind == .name(name) }

    private mutating func skipOp(_ op: String) -> Bool {
        if isOp(op) { advance(); return true }
        return false
    }

    private mutating func skipName(_ name: String) -> Bool {
        if isName(name) { advance(); return true }
        return false
    }

    private mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw fail("expected token '\(op)', got '\(describe(current.kind))'") }
    }

    private mutating func expectName() throws -> String {
        guard case .name(let n) = current.kind else {
            throw fail("expected token 'name', got '\(describe(current.kind))'")
        }
        advance()
        return n
    }

    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else {
            throw fail("expected token 'end of statement block', got '\(describe(current.kind))'")
        }
        advance()
    }

    private mutating func enter() throws {
        depth += 1
        if depth > Self.maxDepth { throw fail("template nesting too deep (over \(Self.maxDepth) levels)") }
    }

    // MARK: statements

    /// Parses until a block tag named in `ends` (returned, with its `{%` and name consumed) or EOF (nil).
    private mutating func subparse(until ends: Set<String>) throws -> ([JinjaStatement], String?) {
        try enter()
        defer { depth -= 1 }
        var body: [JinjaStatement] = []
        while true {
            let line = current.line
            switch current.kind {
            case .eof:
                if !ends.isEmpty {
                    let wanted = ends.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw fail("Unexpected end of template. Jinja was looking for the following tags: \(wanted).")
                }
                return (body, nil)
            case .text(let t):
                body.append(JinjaStatement(kind: .text(t), line: line))
                advance()
            case .variableBegin:
                advance()
                let expr = try parseTuple()
                guard current.kind == .variableEnd else {
                    throw fail("unexpected '\(describe(current.kind))'")
                }
                advance()
                body.append(JinjaStatement(kind: .output(expr), line: line))
            case .blockBegin:
                advance()
                guard case .name(let tag) = current.kind else { throw fail("tag name expected") }
                if ends.contains(tag) {
                    advance()
                    return (body, tag)
                }
                body.append(try parseStatement(tag, line: line))
            default:
                throw fail("unexpected '\(describe(current.kind))'")
            }
        }
    }

    private mutating func parseStatement(_ tag: String, line: Int) throws -> JinjaStatement {
        advance()  // the tag name
        switch tag {
        case "for": return try parseFor(line)
        case "if": return try parseIf(line)
        case "set": return try parseSet(line)
        case "macro":
            let name = try expectName()
            let params = try parseSignature()
            try expectBlockEnd()
            let (body, _) = try subparse(until: ["endmacro"])
            try finishEnd()
            return JinjaStatement(kind: .macro(JinjaMacro(name: name, parameters: params, body: body)), line: line)
        case "call":
            let params = isOp("(") ? try parseSignature() : []
            let call = try parseExpression()
            guard case .call = call else { throw fail("expected call") }
            try expectBlockEnd()
            let (body, _) = try subparse(until: ["endcall"])
            try finishEnd()
            return JinjaStatement(kind: .callBlock(call: call, callerParameters: params, body: body), line: line)
        case "filter":
            var filters: [JinjaFilterCall] = []
            repeat { filters.append(try parseFilterCall()) } while skipOp("|")
            try expectBlockEnd()
            let (body, _) = try subparse(until: ["endfilter"])
            try finishEnd()
            return JinjaStatement(kind: .filterBlock(filters, body: body), line: line)
        case "generation":
            try expectBlockEnd()
            let (body, _) = try subparse(until: ["endgeneration"])
            try finishEnd()
            return JinjaStatement(kind: .generation(body), line: line)
        case "break":
            try expectBlockEnd()
            return JinjaStatement(kind: .breakLoop, line: line)
        case "continue":
            try expectBlockEnd()
            return JinjaStatement(kind: .continueLoop, line: line)
        default:
            throw ChatTemplateError.syntax("Encountered unknown tag '\(tag)'.", line: line)
        }
    }

    /// After an end tag's name: the `%}`.
    private mutating func finishEnd() throws { try expectBlockEnd() }

    private mutating func parseFor(_ line: Int) throws -> JinjaStatement {
        let target = try parseAssignTarget(allowAttribute: false)
        guard skipName("in") else { throw fail("expected token 'in', got '\(describe(current.kind))'") }
        let iterable = try parseTuple(withCondition: false, extraEnds: ["recursive"])
        var condition: JinjaExpr?
        if skipName("if") { condition = try parseExpression() }
        if isName("recursive") { throw fail("recursive for loops are not supported") }
        try expectBlockEnd()
        let referencesBefore = loopReferences
        var (body, end) = try subparse(until: ["endfor", "else"])
        let usesLoop = loopReferences != referencesBefore
        var otherwise: [JinjaStatement] = []
        if end == "else" {
            try expectBlockEnd()
            (otherwise, end) = try subparse(until: ["endfor"])
        }
        try finishEnd()
        return JinjaStatement(kind: .forLoop(target: target, iterable: iterable, condition: condition,
                                        body: body, otherwise: otherwise, usesLoop: usesLoop), line: line)
    }

    private mutating func parseIf(_ line: Int) throws -> JinjaStatement {
        var branches: [(JinjaExpr, [JinjaStatement])] = []
        var condition = try parseTuple(withCondition: false)
        while true {
            try expectBlockEnd()
            let (body, end) = try subparse(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch end {
            case "elif":
                condition = try parseTuple(withCondition: false)
            case "else":
                try expectBlockEnd()
                let (otherwise, _) = try subparse(until: ["endif"])
                try finishEnd()
                return JinjaStatement(kind: .ifChain(branches, otherwise: otherwise), line: line)
            default:
                try finishEnd()
                return JinjaStatement(kind: .ifChain(branches, otherwise: []), line: line)
            }
        }
    }

    private mutating func parseSet(_ line: Int) throws -> JinjaStatement {
        let target = try parseAssignTarget(allowAttribute: true)
        if skipOp("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return JinjaStatement(kind: .set(target, value), line: line)
        }
        guard case .name(let name) = target else { throw fail("expected token '=', got '\(describe(current.kind))'") }
        var filters: [JinjaFilterCall] = []
        while skipOp("|") { filters.append(try parseFilterCall()) }
        try expectBlockEnd()
        let (body, _) = try subparse(until: ["endset"])
        try finishEnd()
        return JinjaStatement(kind: .setBlock(name, filters: filters, body: body), line: line)
    }

    private mutating func parseAssignTarget(allowAttribute: Bool) throws -> JinjaTarget {
        func single(_ p: inout JinjaParser) throws -> JinjaTarget {
            if p.skipOp("(") {
                let t = try p.parseAssignTarget(allowAttribute: false)
                try p.expectOp(")")
                return t
            }
            let name = try p.expectName()
            if allowAttribute, p.isOp("."), case .name(let attr) = p.peek() {
                p.advance(); p.advance()
                return .attribute(name, attr)
            }
            return .name(name)
        }
        var targets = [try single(&self)]
        var isTuple = false
        while skipOp(",") {
            isTuple = true
            if isName("in") || isOp("=") || current.kind == .blockEnd { break }
            targets.append(try single(&self))
        }
        return isTuple ? .tuple(targets) : targets[0]
    }

    /// `(a, b=default, ...)` of a macro or a call block.
    private mutating func parseSignature() throws -> [(String, JinjaExpr?)] {
        try expectOp("(")
        var params: [(String, JinjaExpr?)] = []
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let name = try expectName()
            params.append((name, skipOp("=") ? try parseExpression() : nil))
        }
        try expectOp(")")
        return params
    }

    // MARK: expressions

    private func isTupleEnd(_ extraEnds: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .eof: return true
        case .op(let o): return o == ")"
        case .name(let n): return extraEnds.contains(n)
        default: return false
        }
    }

    private mutating func parseTuple(withCondition: Bool = true, extraEnds: Set<String> = [],
                                     explicitParentheses: Bool = false) throws -> JinjaExpr {
        var items: [JinjaExpr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnds) { break }
            items.append(withCondition ? try parseExpression() : try parseOr())
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses { throw fail("Expected an expression, got '\(describe(current.kind))'") }
        }
        return .tuple(items)
    }

    mutating func parseExpression() throws -> JinjaExpr {
        try enter()
        defer { depth -= 1 }
        var expr = try parseOr()
        while skipName("if") {
            let test = try parseOr()
            let otherwise = skipName("else") ? try parseExpression() : nil
            expr = .conditional(test: test, then: expr, otherwise: otherwise)
        }
        return expr
    }

    private mutating func parseOr() throws -> JinjaExpr {
        var left = try parseAnd()
        while skipName("or") { left = .or(left, try parseAnd()) }
        return left
    }

    private mutating func parseAnd() throws -> JinjaExpr {
        var left = try parseNot()
        while skipName("and") { left = .and(left, try parseNot()) }
        return left
    }

    private mutating func parseNot() throws -> JinjaExpr {
        if skipName("not") {
            try enter()
            defer { depth -= 1 }
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> JinjaExpr {
        let first = try parseMath1()
        var ops: [(JinjaCompareOp, JinjaExpr)] = []
        while true {
            if case .op(let o) = current.kind, let op = JinjaCompareOp(rawValue: o), op != .isIn, op != .notIn {
                advance()
                ops.append((op, try parseMath1()))
            } else if skipName("in") {
                ops.append((.isIn, try parseMath1()))
            } else if isName("not"), peek() == .name("in") {
                advance(); advance()
                ops.append((.notIn, try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? first : .compare(first, ops)
    }

    private mutating func parseMath1() throws -> JinjaExpr {
        var left = try parseConcat()
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            advance()
            left = .binary(o == "+" ? .add : .sub, left, try parseConcat())
        }
        return left
    }

    private mutating func parseConcat() throws -> JinjaExpr {
        var left = try parseMath2()
        while skipOp("~") { left = .binary(.concat, left, try parseMath2()) }
        return left
    }

    private mutating func parseMath2() throws -> JinjaExpr {
        var left = try parsePow()
        while case .op(let o) = current.kind, let op = JinjaBinaryOp(rawValue: o), [.mul, .div, .floorDiv, .mod].contains(op) {
            advance()
            left = .binary(op, left, try parsePow())
        }
        return left
    }

    private mutating func parsePow() throws -> JinjaExpr {
        var left = try parseUnary()
        while skipOp("**") { left = .binary(.pow, left, try parseUnary()) }
        return left
    }

    private mutating func parseUnary(withFilter: Bool = true) throws -> JinjaExpr {
        try enter()
        defer { depth -= 1 }
        var node: JinjaExpr
        if skipOp("-") {
            node = .negate(try parseUnary(withFilter: false))
        } else if skipOp("+") {
            node = .plus(try parseUnary(withFilter: false))
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpression(node) }
        return node
    }

    private mutating func parsePrimary() throws -> JinjaExpr {
        switch current.kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default:
                if n == "loop" { loopReferences += 1 }
                return .name(n)
            }
        case .string(var s):
            advance()
            while case .string(let more) = current.kind { s += more; advance() }
            return .literal(.string(s))
        case .integer(let i):
            advance()
            return .literal(.int(i))
        case .float(let d):
            advance()
            return .literal(.double(d))
        case .op("("):
            advance()
            let inner = try parseTuple(explicitParentheses: true)
            try expectOp(")")
            return inner
        case .op("["):
            advance()
            var items: [JinjaExpr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return .list(items)
        case .op("{"):
            advance()
            var pairs: [(JinjaExpr, JinjaExpr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            try expectOp("}")
            return .dict(pairs)
        default:
            throw fail("unexpected '\(describe(current.kind))'")
        }
    }

    private mutating func parsePostfix(_ start: JinjaExpr) throws -> JinjaExpr {
        var node = start
        while true {
            if skipOp(".") {
                switch current.kind {
                case .name(let n): advance(); node = .attribute(node, n)
                case .integer(let i): advance(); node = .item(node, .literal(.int(i)))
                default: throw fail("expected name or number")
                }
            } else if skipOp("[") {
                var args: [JinjaExpr] = []
                while !isOp("]") {
                    if !args.isEmpty { try expectOp(",") }
                    args.append(try parseSubscribed())
                }
                try expectOp("]")
                if args.count == 1, case .slice(_, let a, let b, let c) = args[0] {
                    node = .slice(node, start: a, stop: b, step: c)
                } else {
                    node = .item(node, args.count == 1 ? args[0] : .tuple(args))
                }
            } else if isOp("(") {
                node = .call(node, try parseCallArguments())
            } else {
                return node
            }
        }
    }

    /// One item inside `[...]`: an expression or a slice (returned as `.slice` over a placeholder).
    private mutating func parseSubscribed() throws -> JinjaExpr {
        var parts: [JinjaExpr?] = []
        if skipOp(":") {
            parts.append(nil)
        } else {
            let node = try parseExpression()
            if !skipOp(":") { return node }
            parts.append(node)
        }
        if isOp(":") {
            parts.append(nil)
        } else if !isOp("]") && !isOp(",") {
            parts.append(try parseExpression())
        } else {
            parts.append(nil)
        }
        if skipOp(":") {
            parts.append(!isOp("]") && !isOp(",") ? try parseExpression() : nil)
        } else {
            parts.append(nil)
        }
        return .slice(.literal(.none), start: parts[0], stop: parts[1], step: parts[2])
    }

    private mutating func parseCallArguments() throws -> [JinjaArgument] {
        try expectOp("(")
        var args: [JinjaArgument] = []
        while !isOp(")") {
            if !args.isEmpty {
                try expectOp(",")
                if isOp(")") { break }
            }
            if isOp("*") || isOp("**") { throw fail("*args and **kwargs in calls are not supported") }
            if case .name(let key) = current.kind, peek() == .op("=") {
                advance(); advance()
                args.append(.keyword(key, try parseExpression()))
            } else {
                if args.contains(where: { if case .keyword = $0 { return true } else { return false } }) {
                    throw fail("invalid syntax for function call expression")
                }
                args.append(.positional(try parseExpression()))
            }
        }
        try expectOp(")")
        return args
    }

    private mutating func parseFilterCall() throws -> JinjaFilterCall {
        var name = try expectName()
        while isOp("."), case .name(let more) = peek() { advance(); advance(); name += "." + more }
        guard JinjaFilters.isKnown(name) else { throw fail("No filter named '\(name)'.") }
        let args = isOp("(") ? try parseCallArguments() : []
        return JinjaFilterCall(name: name, arguments: args)
    }

    private mutating func parseFilterExpression(_ start: JinjaExpr) throws -> JinjaExpr {
        var node = start
        while true {
            if skipOp("|") {
                let f = try parseFilterCall()
                node = .filter(node, name: f.name, f.arguments)
            } else if skipName("is") {
                let negated = skipName("not")
                var name = try expectName()
                while isOp("."), case .name(let more) = peek() { advance(); advance(); name += "." + more }
                guard JinjaTestFunctions.isKnown(name) else { throw fail("No test named '\(name)'.") }
                var args: [JinjaArgument] = []
                if isOp("(") {
                    args = try parseCallArguments()
                } else if startsBareTestArgument() {
                    if isName("is") { throw fail("You cannot chain multiple tests with is") }
                    args = [.positional(try parsePostfix(try parsePrimary()))]
                }
                node = .test(node, name: name, args, negated: negated)
            } else if isOp("(") {
                node = .call(node, try parseCallArguments())
            } else {
                return node
            }
        }
    }

    private func startsBareTestArgument() -> Bool {
        switch current.kind {
        case .name(let n): return !["else", "or", "and"].contains(n)
        case .string, .integer, .float: return true
        case .op(let o): return o == "(" || o == "[" || o == "{"
        default: return false
        }
    }
}
