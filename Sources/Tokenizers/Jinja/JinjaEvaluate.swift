import Foundation

/// Expression evaluation with jinja2's attribute/item lookup and Python's operator semantics.
extension JinjaInterpreter {
    func evaluate(_ expr: JinjaExpr) throws -> JinjaValue {
        try step()
        depth += 1
        defer { depth -= 1 }
        if depth > limits.maxDepth * 2 {
            throw ChatTemplateError.limitExceeded("expression nesting deeper than \(limits.maxDepth * 2) (line \(line))")
        }
        switch expr {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return try wrapped(.array(try items.map(evaluate)))
        case .tuple(let items): return try wrapped(.tuple(try items.map(evaluate)))
        case .dict(let pairs):
            var object = JinjaObject()
            for (k, v) in pairs {
                guard case .string(let key) = try evaluate(k) else { throw error("dict keys must be strings here") }
                object[key] = try evaluate(v)
            }
            return try wrapped(.object(object))
        case let .attribute(base, name):
            return try getAttribute(try evaluate(base), name)
        case let .item(base, key):
            return try getItem(try evaluate(base), try evaluate(key))
        case let .slice(base, start, stop, stepExpr):
            let value = try evaluate(base)
            let bounds = (try start.map(evaluate), try stop.map(evaluate), try stepExpr.map(evaluate))
            switch value {
            case .array, .tuple, .string, .undefined: break
            default:
                // jinja2 folds a fully constant `{{ ... }}` at compile time through its getitem (undefined on
                // failure); slices left for run time are plain Python subscripts that raise.
                if foldingConstantOutput { return .undefined }
            }
            return try slice(value, bounds.0, bounds.1, bounds.2)
        case let .call(callee, args):
            let arguments = try evaluateArguments(args)
            if case let .attribute(baseExpr, name) = callee {
                let base = try evaluate(baseExpr)
                if let result = try JinjaMethods.call(base, name, arguments, self) {
                    return name == "items" ? try wrapped(result) : result
                }
                return try callValue(try getAttribute(base, name), arguments)
            }
            return try callValue(try evaluate(callee), arguments)
        case let .filter(base, name, args):
            let result = try JinjaFilters.apply(name, try evaluate(base), try evaluateArguments(args), self)
            // Filters that build new levels (batch, items, dictsort) are checked like literals.
            return ["batch", "items", "dictsort"].contains(name) ? try wrapped(result) : result
        case let .test(base, name, args, negated):
            let result = try JinjaTestFunctions.apply(name, try evaluate(base), try evaluateArguments(args), self)
            return .bool(result != negated)
        case .negate(let e):
            switch try evaluate(e) {
            case .int(let i): return .int(-i)
            case .bool(let b): return .int(b ? -1 : 0)
            case .double(let d): return .double(-d)
            case let other: throw unsupportedUnary("-", other)
            }
        case .plus(let e):
            let v = try evaluate(e)
            switch v {
            case .int, .double: return v
            case .bool(let b): return .int(b ? 1 : 0)
            default: throw unsupportedUnary("+", v)
            }
        case .not(let e): return .bool(!(try evaluate(e).isTruthy))
        case let .and(a, b):
            let left = try evaluate(a)
            return left.isTruthy ? try evaluate(b) : left
        case let .or(a, b):
            let left = try evaluate(a)
            return left.isTruthy ? left : try evaluate(b)
        case let .binary(op, a, b):
            return try binary(op, try evaluate(a), try evaluate(b))
        case let .compare(first, ops):
            var left = try evaluate(first)
            for (op, rightExpr) in ops {
                let right = try evaluate(rightExpr)
                if !(try compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case let .conditional(test, then, otherwise):
            if try evaluate(test).isTruthy { return try evaluate(then) }
            return try otherwise.map(evaluate) ?? .undefined
        }
    }

    /// `a * b` for size checks, saturating instead of trapping on overflow; negative counts are 0.
    static func product(_ a: Int, _ b: Int) -> Int {
        let (r, overflow) = a.multipliedReportingOverflow(by: max(b, 0))
        return overflow ? Int.max : r
    }

    /// Whether jinja2's optimizer would fold `expr` to a constant (it contains no names or calls).
    static func isConstant(_ expr: JinjaExpr) -> Bool {
        func args(_ list: [JinjaArgument]) -> Bool {
            list.allSatisfy {
                switch $0 {
                case .positional(let e), .keyword(_, let e): return isConstant(e)
                }
            }
        }
        switch expr {
        case .literal: return true
        case .name, .call: return false
        case .list(let items), .tuple(let items): return items.allSatisfy(isConstant)
        case .dict(let pairs): return pairs.allSatisfy { isConstant($0.0) && isConstant($0.1) }
        case let .attribute(base, _): return isConstant(base)
        case let .item(base, key): return isConstant(base) && isConstant(key)
        case let .slice(base, a, b, c): return isConstant(base) && [a, b, c].allSatisfy { $0.map(isConstant) ?? true }
        case let .filter(base, _, list): return isConstant(base) && args(list)
        case let .test(base, _, list, _): return isConstant(base) && args(list)
        case .negate(let e), .plus(let e), .not(let e): return isConstant(e)
        case let .binary(_, a, b), let .and(a, b), let .or(a, b): return isConstant(a) && isConstant(b)
        case let .compare(first, ops): return isConstant(first) && ops.allSatisfy { isConstant($0.1) }
        case let .conditional(test, then, otherwise):
            return isConstant(test) && isConstant(then) && (otherwise.map(isConstant) ?? true)
        }
    }

    private func unsupportedUnary(_ op: String, _ v: JinjaValue) -> ChatTemplateError {
        if v.isUndefined { return error("undefined value used with unary \(op)") }
        return error("bad operand type for unary \(op): '\(v.typeName)'")
    }

    // MARK: lookup

    static let dictMethods: Set<String> = ["items", "keys", "values", "get", "pop", "copy", "update", "clear",
                                           "setdefault", "popitem", "fromkeys"]

    /// jinja2's `getattr(obj, name)`: the Python attribute first, then the item of that name.
    func getAttribute(_ base: JinjaValue, _ name: String) throws -> JinjaValue {
        switch base {
        case .undefined:
            throw error("'\(name)' of an undefined value: the value is undefined")
        case .object(let o):
            if Self.dictMethods.contains(name) { return JinjaMethods.bound(base, name, self) }
            return o[name] ?? .undefined
        case .namespace(let ns):
            return ns.attributes[name] ?? .undefined
        case .string, .array, .tuple:
            return JinjaMethods.exists(base, name) ? JinjaMethods.bound(base, name, self) : .undefined
        default:
            return .undefined
        }
    }

    /// jinja2's `getitem(obj, key)`: the item first, then the attribute when the key is a string.
    func getItem(_ base: JinjaValue, _ key: JinjaValue) throws -> JinjaValue {
        switch (base, key) {
        case (.undefined, _):
            throw error("subscript of an undefined value")
        case let (.object(o), .string(k)):
            return o[k] ?? .undefined
        case let (.array(a), _), let (.tuple(a), _):
            guard let i = Self.intIndex(key) else {
                if case .string(let k) = key { return try getAttribute(base, k) }
                return .undefined
            }
            let idx = i < 0 ? a.count + i : i
            return a.indices.contains(idx) ? a[idx] : .undefined
        case let (.string(s), _):
            guard let i = Self.intIndex(key) else {
                if case .string(let k) = key { return try getAttribute(base, k) }
                return .undefined
            }
            let scalars = Array(s.unicodeScalars)
            let idx = i < 0 ? scalars.count + i : i
            return scalars.indices.contains(idx) ? .string(String(scalars[idx])) : .undefined
        case let (.namespace, .string(k)):
            return try getAttribute(base, k)
        default:
            return .undefined
        }
    }

    static func intIndex(_ v: JinjaValue) -> Int? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    private func slice(_ base: JinjaValue, _ start: JinjaValue?, _ stop: JinjaValue?, _ step: JinjaValue?) throws -> JinjaValue {
        func bound(_ v: JinjaValue?) throws -> Int? {
            guard let v, !(v == .none) else { return nil }
            guard let i = Self.intIndex(v) else { throw error("slice indices must be integers or None") }
            return i
        }
        let (a, b, c) = (try bound(start), try bound(stop), try bound(step) ?? 1)
        guard c != 0 else { throw error("slice step cannot be zero") }
        func pick<T>(_ items: [T]) -> [T] {
            let n = items.count
            func clamp(_ v: Int?, _ dflt: Int, _ lo: Int, _ hi: Int) -> Int {
                guard var v else { return dflt }
                if v < 0 { v += n }
                return min(max(v, lo), hi)
            }
            var out: [T] = []
            if c > 0 {
                var i = clamp(a, 0, 0, n)
                let end = clamp(b, n, 0, n)
                while i < end { out.append(items[i]); i += c }
            } else {
                var i = clamp(a, n - 1, -1, n - 1)
                let end = clamp(b, -1, -1, n - 1)
                while i > end { out.append(items[i]); i += c }
            }
            return out
        }
        switch base {
        case .array(let items): return .array(pick(items))
        case .tuple(let items): return .tuple(pick(items))
        case .string(let s):
            var view = String.UnicodeScalarView()
            view.append(contentsOf: pick(Array(s.unicodeScalars)))
            return .string(String(view))
        case .undefined: throw error("slice of an undefined value")
        case .object: throw error("unhashable type: 'slice'")
        // jinja2 compiles slices to plain Python subscripts (no getitem fallback), so other types raise.
        default: throw error("'\(base.typeName)' object is not subscriptable")
        }
    }

    // MARK: operators

    func binary(_ op: JinjaBinaryOp, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        if op == .concat {
            let s = JinjaPythonFormat.str(a) + JinjaPythonFormat.str(b)
            try checkSize(s.utf8.count)
            return .string(s)
        }
        if op == .mod, case .string(let format) = a {
            // str % x runs even for an undefined x (jinja2's Undefined has __getitem__, so Python
            // treats it as a mapping).
            return .string(try JinjaFilters.percentFormat(format, b, self))
        }
        if a.isUndefined || b.isUndefined { throw error("undefined value used with '\(op.rawValue)'") }
        switch (op, a, b) {
        case let (.add, .string(x), .string(y)):
            try checkSize(x.utf8.count + y.utf8.count)
            return .string(x + y)
        case let (.add, .array(x), .array(y)):
            try checkSize(x.count + y.count)
            return .array(x + y)
        case let (.add, .tuple(x), .tuple(y)):
            return .tuple(x + y)
        case let (.mul, .string(s), n), let (.mul, n, .string(s)):
            guard let count = Self.intIndex(n) else { break }
            try checkSize(Self.product(s.utf8.count, count))
            return .string(String(repeating: s, count: max(count, 0)))
        case let (.mul, .array(items), n), let (.mul, n, .array(items)):
            guard let count = Self.intIndex(n) else { break }
            try checkSize(Self.product(items.count, count))
            return .array(Array(repeating: items, count: max(count, 0)).flatMap { $0 })
        case let (.mul, .tuple(items), n), let (.mul, n, .tuple(items)):
            guard let count = Self.intIndex(n) else { break }
            try checkSize(Self.product(items.count, count))
            return .tuple(Array(repeating: items, count: max(count, 0)).flatMap { $0 })
        default:
            break
        }
        guard let x = a.numericValue, let y = b.numericValue else {
            if op == .add, case .string = a {
                throw error("can only concatenate str (not \"\(b.typeName)\") to str")
            }
            throw error("unsupported operand type(s) for \(op.rawValue): '\(a.typeName)' and '\(b.typeName)'")
        }
        return try arithmetic(op, x, y)
    }

    private func arithmetic(_ op: JinjaBinaryOp, _ x: JinjaNumber, _ y: JinjaNumber) throws -> JinjaValue {
        if case let (.int(i), .int(j)) = (x, y) {
            switch op {
            case .add, .sub, .mul:
                let (r, overflow) = op == .add ? i.addingReportingOverflow(j)
                    : op == .sub ? i.subtractingReportingOverflow(j) : i.multipliedReportingOverflow(by: j)
                if overflow { throw error("integer overflow") }
                return .int(r)
            case .div:
                guard j != 0 else { throw error("division by zero") }
                return .double(Double(i) / Double(j))
            case .floorDiv:
                guard j != 0 else { throw error("integer division or modulo by zero") }
                let q = i / j
                return .int((i % j != 0 && (i < 0) != (j < 0)) ? q - 1 : q)
            case .mod:
                guard j != 0 else { throw error("integer division or modulo by zero") }
                let r = i % j
                return .int(r != 0 && (r < 0) != (j < 0) ? r + j : r)
            case .pow:
                if j < 0 { return .double(pow(Double(i), Double(j))) }
                var result = 1
                for _ in 0..<j {
                    let (r, overflow) = result.multipliedReportingOverflow(by: i)
                    if overflow { throw error("integer overflow") }
                    result = r
                    if result == 0 || result == 1 { break }
                }
                return .int(result)
            case .concat: break
            }
        }
        let (a, b) = (x.asDouble, y.asDouble)
        switch op {
        case .add: return .double(a + b)
        case .sub: return .double(a - b)
        case .mul: return .double(a * b)
        case .div:
            guard b != 0 else { throw error("float division by zero") }
            return .double(a / b)
        case .floorDiv:
            guard b != 0 else { throw error("float floor division by zero") }
            return .double(Self.pyFloorDiv(a, b))
        case .mod:
            guard b != 0 else { throw error("float modulo") }
            return .double(Self.pyFmod(a, b))
        case .pow: return .double(pow(a, b))
        case .concat: return .undefined
        }
    }

    /// CPython's float `//` (float_divmod): floor of the exact quotient, corrected for fmod rounding.
    static func pyFloorDiv(_ a: Double, _ b: Double) -> Double {
        var mod = fmod(a, b)
        var div = (a - mod) / b
        if mod != 0 && (b < 0) != (mod < 0) {
            mod += b
            div -= 1
        }
        if div == 0 { return (a / b).sign == .minus ? -0.0 : 0.0 }
        var floorDiv = div.rounded(.down)
        if div - floorDiv > 0.5 { floorDiv += 1 }
        return floorDiv
    }

    /// Python's float `%`: the result takes the sign of the divisor.
    static func pyFmod(_ a: Double, _ b: Double) -> Double {
        var r = fmod(a, b)
        if r == 0 { return b.sign == .minus ? -0.0 : 0.0 }  // CPython gives a zero the divisor's sign
        if (r < 0) != (b < 0) { r += b }
        return r
    }

    func compare(_ op: JinjaCompareOp, _ a: JinjaValue, _ b: JinjaValue) throws -> Bool {
        switch op {
        case .eq: return a == b
        case .ne: return !(a == b)
        case .isIn: return try contains(b, a)
        case .notIn: return !(try contains(b, a))
        case .lt, .le, .gt, .ge:
            let order = try ordering(a, b, op.rawValue)
            switch op {
            case .lt: return order < 0
            case .le: return order <= 0
            case .gt: return order > 0
            default: return order >= 0
            }
        }
    }

    /// Python ordering for numbers, strings (by code point) and lists/tuples; TypeError otherwise.
    func ordering(_ a: JinjaValue, _ b: JinjaValue, _ op: String) throws -> Int {
        if let x = a.numericValue, let y = b.numericValue {
            if case let (.int(i), .int(j)) = (x, y) { return i < j ? -1 : (i > j ? 1 : 0) }
            let (p, q) = (x.asDouble, y.asDouble)
            return p < q ? -1 : (p > q ? 1 : 0)
        }
        switch (a, b) {
        case let (.string(x), .string(y)):
            if x == y { return 0 }
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1
        case let (.array(x), .array(y)), let (.tuple(x), .tuple(y)):
            for (p, q) in zip(x, y) where !(p == q) { return try ordering(p, q, op) }
            return x.count < y.count ? -1 : (x.count > y.count ? 1 : 0)
        default:
            if a.isUndefined || b.isUndefined { throw error("undefined value in comparison") }
            throw error("'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    /// Python's `needle in container`.
    func contains(_ container: JinjaValue, _ needle: JinjaValue) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let n) = needle else {
                throw error("'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return JinjaStr.find(Array(s.unicodeScalars), Array(n.unicodeScalars), from: 0) != nil
        case .array(let items), .tuple(let items): return items.contains { $0 == needle }
        case .object(let o):
            switch needle {
            case .string(let k): return o[k] != nil
            case .array, .object, .namespace: throw error("unhashable type: '\(needle.typeName)'")
            default: return false
            }
        case .undefined: return false
        default: throw error("argument of type '\(container.typeName)' is not iterable")
        }
    }
}
