import Foundation

/// Recursive-descent parser mirroring jinja2's `parser.py`, so operator precedence and the odd corners
/// (unary minus binding tighter than `**`, filters applying after postfix, `is` tests taking one bare
/// argument) come out the same.
struct JinjaParser {
    let tokens: [JinjaToken]
    var index = 0
    var depth = 0
    /// How many times the name `loop` has been parsed so far (to tell which for bodies use it).
    var loopReferences = 0
    static let maxDepth = 100

    static func parse(_ source: String) throws -> [JinjaStatement] {
        var parser = JinjaParser(tokens: try JinjaLexer.tokenize(source))
        let (body, end) = try parser.subparse(until: [])
        if let end { throw ChatTemplateError.syntax("Encountered unknown tag '\(end)'.", line: parser.current.line) }
        return body
    }

    init(tokens: [JinjaToken]) { self.tokens = tokens }

    // MARK: token helpers

    var current: JinjaToken { tokens[index] }
    func peek(_ offset: Int = 1) -> JinjaTokenKind { tokens[min(index + offset, tokens.count - 1)].kind }

    mutating func advance() { if index < tokens.count - 1 { index += 1 } }

    func fail(_ message: String) -> ChatTemplateError { .syntax(message, line: current.line) }

    func describe(_ kind: JinjaTokenKind) -> String {
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

    func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    func isName(_ name: String) -> Bool { current.kind == .name(name) }

    mutating func skipOp(_ op: String) -> Bool {
        if isOp(op) { advance(); return true }
        return false
    }

    mutating func skipName(_ name: String) -> Bool {
        if isName(name) { advance(); return true }
        return false
    }

    mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw fail("expected token '\(op)', got '\(describe(current.kind))'") }
    }

    mutating func expectName() throws -> String {
        guard case .name(let n) = current.kind else {
            throw fail("expected token 'name', got '\(describe(current.kind))'")
        }
        advance()
        return n
    }

    mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else {
            throw fail("expected token 'end of statement block', got '\(describe(current.kind))'")
        }
        advance()
    }

    mutating func enter() throws {
        depth += 1
        if depth > Self.maxDepth { throw fail("template nesting too deep (over \(Self.maxDepth) levels)") }
    }

    // MARK: statements

    /// Parses until a block tag named in `ends` (returned, with its `{%` and name consumed) or EOF (nil).
    mutating func subparse(until ends: Set<String>) throws -> ([JinjaStatement], String?) {
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

    mutating func parseStatement(_ tag: String, line: Int) throws -> JinjaStatement {
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
        case "with":
            var bindings: [(JinjaTarget, JinjaExpr)] = []
            while current.kind != .blockEnd {
                if !bindings.isEmpty { try expectOp(",") }
                let target = try parseAssignTarget(allowAttribute: false)
                try expectOp("=")
                bindings.append((target, try parseExpression()))
            }
            try expectBlockEnd()
            let (body, _) = try subparse(until: ["endwith"])
            try finishEnd()
            return JinjaStatement(kind: .scoped(bindings, body: body), line: line)
        case "block":
            _ = try expectName()
            while isName("scoped") || isName("required") { advance() }
            try expectBlockEnd()
            let (body, _) = try subparse(until: ["endblock"])
            if case .name = current.kind { advance() }  // optional block name after endblock
            try finishEnd()
            return JinjaStatement(kind: .scoped([], body: body), line: line)
        case "include", "import", "from", "extends":
            while current.kind != .blockEnd && current.kind != .eof { advance() }
            try expectBlockEnd()
            return JinjaStatement(kind: .needsLoader(tag), line: line)
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
    mutating func finishEnd() throws { try expectBlockEnd() }

    mutating func parseFor(_ line: Int) throws -> JinjaStatement {
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

    mutating func parseIf(_ line: Int) throws -> JinjaStatement {
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

    mutating func parseSet(_ line: Int) throws -> JinjaStatement {
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

    mutating func parseAssignTarget(allowAttribute: Bool) throws -> JinjaTarget {
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
    mutating func parseSignature() throws -> [(String, JinjaExpr?)] {
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
}
