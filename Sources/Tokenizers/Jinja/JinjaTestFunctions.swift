import Foundation

/// jinja2's tests (`x is defined`, `n is divisibleby 3`, `selectattr('role', 'equalto', 'user')`).
enum JinjaTestFunctions {
    typealias Test = @Sendable (JinjaValue, JinjaArguments, JinjaInterpreter) throws -> Bool

    static func isKnown(_ name: String) -> Bool { table[name] != nil }

    static func apply(_ name: String, _ value: JinjaValue, _ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> Bool {
        guard let t = table[name] else { throw interp.error("No test named '\(name)'.") }
        return try t(value, args, interp)
    }

    private static func other(_ a: JinjaArguments, _ i: JinjaInterpreter) throws -> JinjaValue {
        guard let v = a.value(0, "other") else { throw i.error("test is missing its argument") }
        return v
    }

    private static func compare(_ op: JinjaCompareOp) -> Test {
        { v, a, i in try i.compare(op, v, try other(a, i)) }
    }

    private static func parity(_ v: JinjaValue, _ i: JinjaInterpreter) throws -> JinjaValue {
        try i.binary(.mod, v, .int(2))
    }

    static let table: [String: Test] = {
        var t: [String: Test] = [
            "defined": { v, _, _ in !v.isUndefined },
            "undefined": { v, _, _ in v.isUndefined },
            "none": { v, _, _ in v == .none && !v.isUndefined },
            "boolean": { v, _, _ in if case .bool = v { return true } else { return false } },
            "true": { v, _, _ in v == .bool(true) && { if case .bool = v { return true } else { return false } }() },
            "false": { v, _, _ in v == .bool(false) && { if case .bool = v { return true } else { return false } }() },
            "integer": { v, _, _ in if case .int = v { return true } else { return false } },
            "float": { v, _, _ in if case .double = v { return true } else { return false } },
            "number": { v, _, _ in v.numericValue != nil },
            "string": { v, _, _ in if case .string = v { return true } else { return false } },
            "mapping": { v, _, _ in if case .object = v { return true } else { return false } },
            "iterable": { v, _, _ in
                switch v {
                case .string, .array, .tuple, .object, .undefined: return true
                default: return false
                }
            },
            "sequence": { v, _, _ in
                switch v {
                case .string, .array, .tuple, .object, .undefined: return true
                default: return false
                }
            },
            "callable": { v, _, _ in
                switch v {
                case .callable, .undefined: return true  // jinja2's Undefined defines __call__ (which raises)
                default: return false
                }
            },
            "escaped": { _, _, _ in false },
            "odd": { v, _, i in try parity(v, i) == .int(1) },
            "even": { v, _, i in try parity(v, i) == .int(0) },
            "divisibleby": { v, a, i in
                guard let n = a.value(0, "num") else { throw i.error("divisibleby needs a number") }
                return try i.binary(.mod, v, n) == .int(0)
            },
            "lower": { v, _, _ in
                let s = JinjaPythonFormat.str(v).unicodeScalars.filter(JinjaStr.isCased)
                return !s.isEmpty && s.allSatisfy { !$0.properties.isUppercase }
            },
            "upper": { v, _, _ in
                let s = JinjaPythonFormat.str(v).unicodeScalars.filter(JinjaStr.isCased)
                return !s.isEmpty && s.allSatisfy { !$0.properties.isLowercase }
            },
            "in": { v, a, i in try i.contains(try other(a, i), v) },
            "sameas": { v, a, i in
                let o = try other(a, i)
                switch (v, o) {
                case (.array, _), (.object, _), (.tuple, _): return false  // distinct objects unless literally the same
                default:
                    return v == o && v.typeName == o.typeName
                }
            },
            "filter": { v, _, _ in if case .string(let s) = v { return JinjaFilters.isKnown(s) } else { return false } },
            "test": { v, _, _ in if case .string(let s) = v { return JinjaTestFunctions.isKnown(s) } else { return false } },
        ]
        for (names, op) in [(["eq", "equalto", "=="], JinjaCompareOp.eq), (["ne", "!="], .ne), (["lt", "lessthan", "<"], .lt),
                            (["le", "<="], .le), (["gt", "greaterthan", ">"], .gt), (["ge", ">="], .ge)] {
            for n in names { t[n] = compare(op) }
        }
        return t
    }()
}
