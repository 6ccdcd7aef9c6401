import Foundation

/// jinja2's built-in filters (the ones chat templates use) plus transformers' `tojson`.
enum JinjaFilters {
    typealias Filter = @Sendable (JinjaValue, JinjaArguments, JinjaInterpreter) throws -> JinjaValue

    /// jinja2 built-ins this renderer does not implement. They parse (jinja2 checks filter names when it
    /// compiles, so an unknown name is a syntax error there too) and fail only if a render reaches them.
    static let unsupported: Set<String> = ["filesizeformat", "groupby", "pprint", "random", "slice", "striptags",
                                           "urlencode", "urlize", "wordwrap", "xmlattr"]

    static func isKnown(_ name: String) -> Bool { table[name] != nil || unsupported.contains(name) }

    static func apply(_ name: String, _ value: JinjaValue, _ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaValue {
        guard let f = table[name] else {
            if unsupported.contains(name) { throw interp.error("the '\(name)' filter is not supported by this renderer") }
            throw interp.error("No filter named '\(name)'.")
        }
        return try f(value, args, interp)
    }

    static let table: [String: Filter] = {
        var t: [String: Filter] = [:]
        t["default"] = { v, a, _ in
            let useDefault = v.isUndefined || ((a.value(1, "boolean")?.isTruthy ?? false) && !v.isTruthy)
            return useDefault ? (a.value(0, "default_value") ?? .string("")) : v
        }
        t["d"] = t["default"]
        t["string"] = { v, _, _ in .string(JinjaPythonFormat.str(v)) }
        t["safe"] = { v, _, _ in v.isUndefined ? .string("") : v }
        t["upper"] = { v, _, _ in .string(JinjaPythonFormat.str(v).uppercased()) }
        t["lower"] = { v, _, _ in .string(JinjaPythonFormat.str(v).lowercased()) }
        t["capitalize"] = { v, _, _ in .string(JinjaStr.capitalize(JinjaPythonFormat.str(v))) }
        t["title"] = { v, _, _ in .string(jinjaTitle(JinjaPythonFormat.str(v))) }
        t["trim"] = { v, a, i in
            var chars: String?
            if let c = a.value(0, "chars"), !(c == .none) {
                guard case .string(let s) = c else { throw i.error("strip arg must be None or str") }
                chars = s
            }
            return .string(JinjaStr.strip(JinjaPythonFormat.str(v), chars))
        }
        t["replace"] = { v, a, i in
            guard let old = a.value(0, "old"), let new = a.value(1, "new") else { throw i.error("replace needs old and new") }
            let count = a.value(2, "count").flatMap(JinjaInterpreter.intIndex) ?? -1
            let (s, o, n) = (JinjaPythonFormat.str(v), JinjaPythonFormat.str(old), JinjaPythonFormat.str(new))
            try i.checkSize(JinjaStr.replacedSize(s, o, n, count: count))
            return .string(JinjaStr.replace(s, o, n, count: count))
        }
        t["length"] = { v, _, i in .int(try length(v, i)) }
        t["count"] = t["length"]
        t["list"] = { v, _, i in .array(try i.iterate(v)) }
        t["first"] = { v, _, i in try i.iterate(v).first ?? .undefined }
        t["last"] = { v, _, i in try i.iterate(v).last ?? .undefined }
        t["join"] = { v, a, i in
            var items = try i.iterate(v)
            if case .string(let attr)? = a.keywordValue("attribute") {
                items = try items.map { try attribute($0, attr, i) }
            }
            let sep = a.value(0, "d").map(JinjaPythonFormat.str) ?? ""
            let joined = items.map(JinjaPythonFormat.str).joined(separator: sep)
            try i.checkSize(joined.utf8.count)
            return .string(joined)
        }
        t["reverse"] = { v, _, i in
            if case .string(let s) = v { return .string(JinjaStr.make(s.unicodeScalars.reversed())) }
            return .array(try i.iterate(v).reversed())
        }
        t["int"] = { v, a, i in try toInt(v, a, i) }
        t["float"] = { v, a, i in
            if v.isUndefined { throw i.error("float() of an undefined value") }  // Undefined.__float__ raises
            let dflt = a.value(0, "default") ?? .double(0)
            switch v {
            case .int(let n): return .double(Double(n))
            case .bool(let b): return .double(b ? 1 : 0)
            case .double: return v
            case .string(let s): return Double(JinjaStr.strip(s, nil).replacingOccurrences(of: "_", with: "")).map { .double($0) } ?? dflt
            default: return dflt
            }
        }
        t["abs"] = { v, _, i in
            switch v {
            case .int(let n): return .int(abs(n))
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return .double(abs(d))
            default: throw i.error("bad operand type for abs(): '\(v.typeName)'")
            }
        }
        t["round"] = { v, a, i in try round(v, a, i) }
        t["items"] = { v, _, i in
            switch v {
            case .undefined: return .array([])
            case .object(let o): return .array(o.pairs.map { .tuple([.string($0.0), $0.1]) })
            default: throw i.error("Can only get item pairs from a mapping.")
            }
        }
        t["dictsort"] = { v, a, i in
            guard case .object(let o) = v else { throw i.error("dictsort expects a mapping") }
            let caseSensitive = a.value(0, "case_sensitive")?.isTruthy ?? false
            let byValue = a.value(1, "by").map(JinjaPythonFormat.str) == "value"
            let reverse = a.value(2, "reverse")?.isTruthy ?? false
            let pairs = o.pairs.map { JinjaValue.tuple([.string($0.0), $0.1]) }
            return .array(try sorted(pairs, reverse: reverse, interp: i) { pair in
                guard case .tuple(let kv) = pair else { return pair }
                return sortKey(byValue ? kv[1] : kv[0], caseSensitive)
            })
        }
        t["tojson"] = { v, a, i in try toJSON(v, a, i) }
        t["indent"] = { v, a, i in try indent(v, a, i) }
        t["escape"] = { v, _, _ in .string(htmlEscape(JinjaPythonFormat.str(v))) }
        t["e"] = t["escape"]
        t["forceescape"] = t["escape"]
        t["wordcount"] = { v, _, _ in
            var count = 0
            var inWord = false
            for c in JinjaPythonFormat.str(v).unicodeScalars {
                let isWord = c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
                if isWord && !inWord { count += 1 }
                inWord = isWord
            }
            return .int(count)
        }
        t["center"] = { v, a, i in
            let width = a.value(0, "width").flatMap(JinjaInterpreter.intIndex) ?? 80
            try i.checkSize(width)
            return .string(JinjaStr.pad(JinjaPythonFormat.str(v), width: width, fill: " ", align: "^"))
        }
        t["format"] = { v, a, i in
            let args: JinjaValue = a.keyword.isEmpty ? .tuple(a.positional) : .object(JinjaObject(a.keyword))
            return .string(try percentFormat(JinjaPythonFormat.str(v), args, i))
        }
        t["truncate"] = { v, a, i in
            let s = Array(JinjaPythonFormat.str(v).unicodeScalars)
            let length = a.value(0, "length").flatMap(JinjaInterpreter.intIndex) ?? 255
            let killwords = a.value(1, "killwords")?.isTruthy ?? false
            let end = Array((a.value(2, "end").map(JinjaPythonFormat.str) ?? "...").unicodeScalars)
            let leeway = a.value(3, "leeway").flatMap(JinjaInterpreter.intIndex) ?? 5
            if s.count <= length + leeway { return .string(JinjaStr.make(s)) }
            let head = Array(s.prefix(max(0, length - end.count)))
            if killwords { return .string(JinjaStr.make(head + end)) }
            let cut = JinjaStr.rsplit(JinjaStr.make(head), " ", 1).first ?? ""
            return .string(cut + JinjaStr.make(end))
        }
        t["attr"] = { v, a, i in
            guard case .string(let name)? = a.value(0, "name") else { throw i.error("attr needs a name") }
            if case .namespace = v { return try i.getAttribute(v, name) }
            return JinjaMethods.exists(v, name) ? JinjaMethods.bound(v, name, i) : .undefined
        }
        for (k, f) in JinjaCollectionFilters.table { t[k] = f }
        return t
    }()

    static func length(_ v: JinjaValue, _ i: JinjaInterpreter) throws -> Int {
        switch v {
        case .string(let s): return JinjaStr.length(s)
        case .array(let a), .tuple(let a): return a.count
        case .object(let o): return o.count
        case .undefined: return 0
        case .namespace(let ns): return ns.attributes.count
        default: throw i.error("object of type '\(v.typeName)' has no len()")
        }
    }

    /// jinja2's attribute getter for `attribute=` arguments: dotted paths, digits as indexes.
    static func attribute(_ v: JinjaValue, _ path: String, _ i: JinjaInterpreter) throws -> JinjaValue {
        var current = v
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            let key: JinjaValue = Int(part).map { .int($0) } ?? .string(String(part))
            current = try i.getItem(current, key)
        }
        return current
    }

    /// jinja2's `title` filter (not Python's str.title): words start after `-`, whitespace, or opening brackets.
    static func jinjaTitle(_ s: String) -> String {
        var out = ""
        var atWordStart = true
        for c in s.unicodeScalars {
            if c == "-" || c == "(" || c == "{" || c == "[" || c == "<" || JinjaLexer.isPythonWhitespace(c) {
                out.unicodeScalars.append(c)
                atWordStart = true
            } else {
                out += atWordStart ? String(c).uppercased() : String(c).lowercased()
                atWordStart = false
            }
        }
        return out
    }

    static func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    private static func toInt(_ v: JinjaValue, _ a: JinjaArguments, _ i: JinjaInterpreter) throws -> JinjaValue {
        if v.isUndefined { throw i.error("int() of an undefined value") }  // Undefined.__int__ raises
        let dflt = a.value(0, "default") ?? .int(0)
        let base = a.value(1, "base").flatMap(JinjaInterpreter.intIndex) ?? 10
        switch v {
        case .int: return v
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d): return d.isFinite && abs(d) < 9.2e18 ? .int(Int(d)) : dflt
        case .string(let raw):
            var s = JinjaStr.strip(raw, nil).replacingOccurrences(of: "_", with: "").lowercased()
            var negative = false
            if s.hasPrefix("-") || s.hasPrefix("+") { negative = s.hasPrefix("-"); s.removeFirst() }
            var radix = base
            for (prefix, r) in [("0x", 16), ("0o", 8), ("0b", 2)] where s.hasPrefix(prefix) && (base == r || base == 0) {
                s.removeFirst(2)
                radix = r
            }
            if radix == 0 { radix = 10 }
            if let n = Int(s, radix: radix) { return .int(negative ? -n : n) }
            // jinja2 falls back to int(float(value)).
            if base == 10, let d = Double(JinjaStr.strip(raw, nil)), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
            return dflt
        default: return dflt
        }
    }

    private static func round(_ v: JinjaValue, _ a: JinjaArguments, _ i: JinjaInterpreter) throws -> JinjaValue {
        let precision = a.value(0, "precision").flatMap(JinjaInterpreter.intIndex) ?? 0
        let method = a.value(1, "method").map(JinjaPythonFormat.str) ?? "common"
        guard ["common", "ceil", "floor"].contains(method) else { throw i.error("method must be common, ceil or floor") }
        let x: Double
        switch v {
        case .int(let n):
            if method == "common" { return .int(n) }  // Python's round(int, n) stays an int
            x = Double(n)
        case .bool(let b):
            if method == "common" { return .int(b ? 1 : 0) }  // bool inherits int.__round__
            x = b ? 1 : 0
        case .double(let d): x = d
        default: throw i.error("type \(v.typeName) doesn't define __round__ method")
        }
        if method == "common" {
            // printf rounds the exact binary value half-to-even, which is what Python's round() does.
            guard x.isFinite, precision >= 0 else { return .double(x) }
            return .double(Double(String(format: "%.\(min(precision, 300))f", x)) ?? x)
        }
        let scale = pow(10.0, Double(precision))
        return .double((method == "ceil" ? (x * scale).rounded(.up) : (x * scale).rounded(.down)) / scale)
    }

    private static func toJSON(_ v: JinjaValue, _ a: JinjaArguments, _ i: JinjaInterpreter) throws -> JinjaValue {
        var indent: String?
        switch a.value(1, "indent") {
        case .int(let n)?:
            try i.checkSize(n)
            indent = String(repeating: " ", count: max(n, 0))
        case .string(let s)?: indent = s
        case nil, .none?: indent = nil
        case let other?: throw i.error("indent must be int or str, not \(other.typeName)")
        }
        var separators: (String, String)?
        if let sep = a.value(2, "separators"), !(sep == .none) {
            let parts = try i.iterate(sep)
            guard parts.count == 2, case .string(let item) = parts[0], case .string(let key) = parts[1] else {
                throw i.error("separators must be a pair of strings")
            }
            separators = (item, key)
        }
        let sortKeys = a.value(3, "sort_keys")?.isTruthy ?? false
        var text = try JinjaJSONEncoder(indent: indent, separators: separators, sortKeys: sortKeys).encode(v)
        if a.value(0, "ensure_ascii")?.isTruthy ?? false {
            var out = ""
            for c in text.unicodeScalars {
                if c.value < 0x80 { out.unicodeScalars.append(c); continue }
                for unit in String(c).utf16 { out += "\\u" + JinjaPythonFormat.hex(UInt32(unit), 4) }
            }
            text = out
        }
        try i.checkSize(text.utf8.count)
        return .string(text)
    }

    private static func indent(_ v: JinjaValue, _ a: JinjaArguments, _ i: JinjaInterpreter) throws -> JinjaValue {
        let indention: String
        switch a.value(0, "width") {
        case .string(let s)?: indention = s
        case let w?:
            let width = max(JinjaInterpreter.intIndex(w) ?? 4, 0)
            try i.checkSize(width)
            indention = String(repeating: " ", count: width)
        case nil: indention = "    "
        }
        guard case .string(let text) = v else {
            // jinja2 appends "\n" to the value itself, which only works for strings.
            throw i.error("unsupported operand type(s) for +=: '\(v.typeName)' and 'str'")
        }
        let first = a.value(1, "first")?.isTruthy ?? false
        let blank = a.value(2, "blank")?.isTruthy ?? false
        // jinja2 appends a newline first so splitlines keeps a trailing empty line.
        let lines = JinjaStr.splitlines(text + "\n")
        var rv: String
        if blank {
            rv = lines.joined(separator: "\n" + indention)
        } else {
            rv = lines.first ?? ""
            let rest = lines.dropFirst()
            if !rest.isEmpty { rv += "\n" + rest.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n") }
        }
        if first { rv = indention + rv }
        try i.checkSize(rv.utf8.count)
        return .string(rv)
    }

    static func sortKey(_ v: JinjaValue, _ caseSensitive: Bool) -> JinjaValue {
        if !caseSensitive, case .string(let s) = v { return .string(s.lowercased()) }
        return v
    }

    /// Python's stable sort by key, raising the TypeError Python would on unorderable keys.
    static func sorted(_ items: [JinjaValue], reverse: Bool, interp: JinjaInterpreter,
                       key: (JinjaValue) throws -> JinjaValue) throws -> [JinjaValue] {
        let keyed = try items.enumerated().map { ($0.offset, try key($0.element), $0.element) }
        var failure: Error?
        let result = keyed.sorted { x, y in
            do {
                let order = try interp.ordering(x.1, y.1, "<")
                if order == 0 { return x.0 < y.0 }
                return reverse ? order > 0 : order < 0
            } catch {
                failure = error
                return x.0 < y.0
            }
        }
        if let failure { throw failure }
        return result.map { $0.2 }
    }
}
