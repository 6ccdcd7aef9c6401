import Foundation

/// Python methods of str, dict and list that templates call (`message.content.strip()`, `d.items()`).
/// Mutating methods are refused the way jinja2's ImmutableSandboxedEnvironment refuses them.
enum JinjaMethods {
    static let stringMethods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
        "title", "capitalize", "swapcase", "casefold", "replace", "join", "find", "rfind", "index", "rindex",
        "count", "format", "center", "ljust", "rjust", "zfill", "partition", "rpartition", "removeprefix",
        "removesuffix", "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "isupper",
        "islower", "istitle",
    ]
    static let listMethods: Set<String> = ["count", "index", "copy", "append", "extend", "insert", "pop", "remove",
                                           "sort", "reverse", "clear"]
    static let unsafeList: Set<String> = ["append", "extend", "insert", "remove", "sort", "reverse"]
    static let unsafeDict: Set<String> = ["update", "pop", "popitem", "clear", "setdefault"]

    static func exists(_ base: JinjaValue, _ name: String) -> Bool {
        switch base {
        case .string: return stringMethods.contains(name)
        case .array, .tuple: return listMethods.contains(name)
        case .object: return JinjaInterpreter.dictMethods.contains(name)
        default: return false
        }
    }

    static func bound(_ base: JinjaValue, _ name: String, _ interp: JinjaInterpreter) -> JinjaValue {
        .callable(JinjaCallable(name: name) { [unowned interp] args in
            guard let v = try call(base, name, args, interp) else { throw interp.error("'\(name)' is not callable") }
            return v
        })
    }

    /// Calls `base.name(args)`; nil when `base` has no such method (the caller then tries other lookups).
    static func call(_ base: JinjaValue, _ name: String, _ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaValue? {
        switch base {
        case .string(let s): return try stringMethod(s, name, args, interp)
        case .object(let o): return try dictMethod(o, name, args, interp)
        case .array(let a), .tuple(let a): return try listMethod(a, name, args, interp)
        default: return nil
        }
    }

    private static func str(_ args: JinjaArguments, _ i: Int, _ name: String, _ interp: JinjaInterpreter) throws -> String? {
        guard let v = args.value(i, name), !(v == .none) else { return nil }
        guard case .string(let s) = v else { throw interp.error("argument \(name) must be str, not \(v.typeName)") }
        return s
    }

    private static func int(_ args: JinjaArguments, _ i: Int, _ name: String, _ dflt: Int, _ interp: JinjaInterpreter) throws -> Int {
        guard let v = args.value(i, name), !(v == .none) else { return dflt }
        guard let n = JinjaInterpreter.intIndex(v) else { throw interp.error("argument \(name) must be int, not \(v.typeName)") }
        return n
    }

    private static func affixes(_ v: JinjaValue?, _ interp: JinjaInterpreter) throws -> [String] {
        switch v {
        case .string(let s)?: return [s]
        case .tuple(let items)?, .array(let items)?:
            return try items.map {
                guard case .string(let s) = $0 else { throw interp.error("tuple for startswith must only contain str") }
                return s
            }
        default: throw interp.error("startswith first arg must be str or a tuple of str")
        }
    }

    private static func stringMethod(_ s: String, _ name: String, _ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaValue? {
        let scalars = Array(s.unicodeScalars)
        switch name {
        case "strip": return .string(JinjaStr.strip(s, try str(args, 0, "chars", interp)))
        case "lstrip": return .string(JinjaStr.strip(s, try str(args, 0, "chars", interp), right: false))
        case "rstrip": return .string(JinjaStr.strip(s, try str(args, 0, "chars", interp), left: false))
        case "split", "rsplit":
            let sep = try str(args, 0, "sep", interp)
            if sep == "" { throw interp.error("empty separator") }
            let maxSplit = try int(args, 1, "maxsplit", -1, interp)
            let parts = name == "split" ? JinjaStr.split(s, sep, maxSplit) : JinjaStr.rsplit(s, sep, maxSplit)
            return .array(parts.map { .string($0) })
        case "splitlines":
            let keep = args.value(0, "keepends")?.isTruthy ?? false
            return .array(JinjaStr.splitlines(s, keepEnds: keep).map { .string($0) })
        case "startswith", "endswith":
            let options = try affixes(args.value(0, "prefix"), interp)
            let hit = options.contains { o in
                let p = Array(o.unicodeScalars)
                guard p.count <= scalars.count else { return false }
                return name == "startswith" ? scalars.prefix(p.count).elementsEqual(p) : scalars.suffix(p.count).elementsEqual(p)
            }
            return .bool(hit)
        case "upper": return .string(s.uppercased())
        case "lower", "casefold": return .string(s.lowercased())
        case "title": return .string(JinjaStr.title(s))
        case "capitalize": return .string(JinjaStr.capitalize(s))
        case "swapcase": return .string(JinjaStr.swapcase(s))
        case "replace":
            guard let old = try str(args, 0, "old", interp), let new = try str(args, 1, "new", interp) else {
                throw interp.error("replace() takes at least 2 arguments")
            }
            let count = try int(args, 2, "count", -1, interp)
            try interp.checkSize(JinjaStr.replacedSize(s, old, new, count: count))
            return .string(JinjaStr.replace(s, old, new, count: count))
        case "join":
            let items = try interp.iterate(args.value(0, "iterable") ?? .undefined)
            let parts: [String] = try items.map {
                guard case .string(let p) = $0 else { throw interp.error("sequence item: expected str instance, \($0.typeName) found") }
                return p
            }
            let joined = parts.joined(separator: s)
            try interp.checkSize(joined.utf8.count)
            return .string(joined)
        case "find", "index":
            let needle = Array((try str(args, 0, "sub", interp) ?? "").unicodeScalars)
            let found = JinjaStr.find(scalars, needle, from: try int(args, 1, "start", 0, interp))
            if found == nil && name == "index" { throw interp.error("substring not found") }
            return .int(found ?? -1)
        case "rfind", "rindex":
            let found = JinjaStr.rfind(scalars, Array((try str(args, 0, "sub", interp) ?? "").unicodeScalars))
            if found == nil && name == "rindex" { throw interp.error("substring not found") }
            return .int(found ?? -1)
        case "count":
            return .int(JinjaStr.count(scalars, Array((try str(args, 0, "sub", interp) ?? "").unicodeScalars)))
        case "format": return .string(try JinjaFilters.braceFormat(s, args, interp))
        case "center", "ljust", "rjust":
            let width = try int(args, 0, "width", 0, interp)
            try interp.checkSize(width)
            let fill = (try str(args, 1, "fillchar", interp))?.unicodeScalars.first ?? " "
            return .string(JinjaStr.pad(s, width: width, fill: fill, align: name == "center" ? "^" : (name == "ljust" ? "<" : ">")))
        case "zfill":
            let width = try int(args, 0, "width", 0, interp)
            try interp.checkSize(width)
            guard width > scalars.count else { return .string(s) }
            let zeros = String(repeating: "0", count: width - scalars.count)
            if let first = scalars.first, first == "-" || first == "+" {
                return .string(String(first) + zeros + JinjaStr.make(scalars.dropFirst()))
            }
            return .string(zeros + s)
        case "partition", "rpartition":
            let sep = Array((try str(args, 0, "sep", interp) ?? "").unicodeScalars)
            let at = name == "partition" ? JinjaStr.find(scalars, sep, from: 0) : JinjaStr.rfind(scalars, sep)
            guard let at else {
                return name == "partition" ? .tuple([.string(s), .string(""), .string("")]) : .tuple([.string(""), .string(""), .string(s)])
            }
            return .tuple([.string(JinjaStr.make(scalars[..<at])), .string(JinjaStr.make(sep)), .string(JinjaStr.make(scalars[(at + sep.count)...]))])
        case "removeprefix":
            let p = Array((try str(args, 0, "prefix", interp) ?? "").unicodeScalars)
            return .string(scalars.starts(with: p) ? JinjaStr.make(scalars.dropFirst(p.count)) : s)
        case "removesuffix":
            let p = Array((try str(args, 0, "suffix", interp) ?? "").unicodeScalars)
            return .string(!p.isEmpty && scalars.suffix(p.count).elementsEqual(p) ? JinjaStr.make(scalars.dropLast(p.count)) : s)
        case "isdigit", "isdecimal", "isnumeric":
            return .bool(!scalars.isEmpty && scalars.allSatisfy { $0.properties.numericType != nil })
        case "isalpha": return .bool(!scalars.isEmpty && scalars.allSatisfy { $0.properties.isAlphabetic })
        case "isalnum":
            return .bool(!scalars.isEmpty && scalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
        case "isspace": return .bool(!scalars.isEmpty && scalars.allSatisfy(JinjaLexer.isPythonWhitespace))
        case "isupper", "islower":
            let cased = scalars.filter(JinjaStr.isCased)
            let upper = name == "isupper"
            return .bool(!cased.isEmpty && cased.allSatisfy { upper ? !$0.properties.isLowercase : !$0.properties.isUppercase })
        case "istitle": return .bool(!scalars.isEmpty && JinjaStr.title(s) == s && scalars.contains(where: JinjaStr.isCased))
        default: return nil
        }
    }

    private static func dictMethod(_ o: JinjaObject, _ name: String, _ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaValue? {
        switch name {
        case "get":
            guard let key = args.value(0, "key") else { throw interp.error("get expected at least 1 argument, got 0") }
            if case .string(let k) = key, let v = o[k] { return v }
            return args.value(1, "default") ?? JinjaValue.none
        case "items": return .array(o.pairs.map { .tuple([.string($0.0), $0.1]) })
        case "keys": return .array(o.keys.map { .string($0) })
        case "values": return .array(o.values)
        case "copy": return .object(o)
        default:
            if unsafeDict.contains(name) { throw interp.error("access to attribute '\(name)' of 'dict' object is unsafe.") }
            return nil
        }
    }

    private static func listMethod(_ a: [JinjaValue], _ name: String, _ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaValue? {
        switch name {
        case "count":
            let x = args.value(0, "value") ?? .undefined
            return .int(a.filter { $0 == x }.count)
        case "index":
            let x = args.value(0, "value") ?? .undefined
            guard let i = a.firstIndex(where: { $0 == x }) else { throw interp.error("\(JinjaPythonFormat.repr(x)) is not in list") }
            return .int(i)
        case "copy": return .array(a)
        case "pop", "clear":
            throw interp.error("list.\(name)() would modify a list; templates here are immutable")
        default:
            if unsafeList.contains(name) { throw interp.error("access to attribute '\(name)' of 'list' object is unsafe.") }
            return nil
        }
    }
}
