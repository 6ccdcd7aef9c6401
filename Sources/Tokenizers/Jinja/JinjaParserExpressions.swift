import Foundation

/// Expression grammar of `JinjaParser`, level by level from jinja2's parser.py.
extension JinjaParser {
    // MARK: expressions

    func isTupleEnd(_ extraEnds: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .eof: return true
        case .op(let o): return o == ")"
        case .name(let n): return extraEnds.contains(n)
        default: return false
        }
    }

    mutating func parseTuple(withCondition: Bool = true, extraEnds: Set<String> = [],
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

    mutating func parseOr() throws -> JinjaExpr {
        var left = try parseAnd()
        while skipName("or") { left = .or(left, try parseAnd()) }
        return left
    }

    mutating func parseAnd() throws -> JinjaExpr {
        var left = try parseNot()
        while skipName("and") { left = .and(left, try parseNot()) }
        return left
    }

    mutating func parseNot() throws -> JinjaExpr {
        if skipName("not") {
            try enter()
            defer { depth -= 1 }
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    mutating func parseCompare() throws -> JinjaExpr {
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

    mutating func parseMath1() throws -> JinjaExpr {
        var left = try parseConcat()
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            advance()
            left = .binary(o == "+" ? .add : .sub, left, try parseConcat())
        }
        return left
    }

    mutating func parseConcat() throws -> JinjaExpr {
        var left = try parseMath2()
        while skipOp("~") { left = .binary(.concat, left, try parseMath2()) }
        return left
    }

    mutating func parseMath2() throws -> JinjaExpr {
        var left = try parsePow()
        while case .op(let o) = current.kind, let op = JinjaBinaryOp(rawValue: o), [.mul, .div, .floorDiv, .mod].contains(op) {
            advance()
            left = .binary(op, left, try parsePow())
        }
        return left
    }

    mutating func parsePow() throws -> JinjaExpr {
        var left = try parseUnary()
        while skipOp("**") { left = .binary(.pow, left, try parseUnary()) }
        return left
    }

    mutating func parseUnary(withFilter: Bool = true) throws -> JinjaExpr {
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

    mutating func parsePrimary() throws -> JinjaExpr {
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

    mutating func parsePostfix(_ start: JinjaExpr) throws -> JinjaExpr {
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
    mutating func parseSubscribed() throws -> JinjaExpr {
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

    mutating func parseCallArguments() throws -> [JinjaArgument] {
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

    mutating func parseFilterCall() throws -> JinjaFilterCall {
        var name = try expectName()
        while isOp("."), case .name(let more) = peek() { advance(); advance(); name += "." + more }
        guard JinjaFilters.isKnown(name) else { throw fail("No filter named '\(name)'.") }
        let args = isOp("(") ? try parseCallArguments() : []
        return JinjaFilterCall(name: name, arguments: args)
    }

    mutating func parseFilterExpression(_ start: JinjaExpr) throws -> JinjaExpr {
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

    func startsBareTestArgument() -> Bool {
        switch current.kind {
        case .name(let n): return !["else", "or", "and"].contains(n)
        case .string, .integer, .float: return true
        case .op(let o): return o == "(" || o == "[" || o == "{"
        default: return false
        }
    }
}
