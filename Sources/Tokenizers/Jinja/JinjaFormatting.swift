import Foundation

/// Python's two string formatting mini-languages, for `'%s' % x`, the `format` filter and `str.format`.
extension JinjaFilters {
    /// printf-style `format % args` with the common conversions (s r d i f e g x o c %).
    static func percentFormat(_ format: String, _ args: JinjaValue, _ i: JinjaInterpreter) throws -> String {
        var positional: [JinjaValue]
        var mapping: JinjaObject?
        // Python treats any non-tuple, non-str argument with __getitem__ (dict, list) as a mapping: it may
        // feed "%(key)s" and is exempt from the "not all arguments converted" check.
        var mappingLike = false
        switch args {
        case .tuple(let items): positional = items
        case .object(let o): positional = [args]; mapping = o; mappingLike = true
        case .array, .undefined: positional = [args]; mappingLike = true
        default: positional = [args]
        }
        var next = 0
        var out = ""
        let s = Array(format.unicodeScalars)
        var p = 0
        func take() throws -> JinjaValue {
            guard next < positional.count else { throw i.error("not enough arguments for format string") }
            defer { next += 1 }
            return positional[next]
        }
        while p < s.count {
            guard s[p] == "%" else { out.unicodeScalars.append(s[p]); p += 1; continue }
            p += 1
            guard p < s.count else { throw i.error("incomplete format") }
            var value: JinjaValue?
            if s[p] == "(" {
                guard let close = s[p...].firstIndex(of: ")"), let mapping else { throw i.error("format requires a mapping") }
                value = mapping[JinjaStr.make(s[(p + 1)..<close])] ?? .undefined
                p = close + 1
            }
            var flags = ""
            while p < s.count, "-+ 0#".unicodeScalars.contains(s[p]) { flags.unicodeScalars.append(s[p]); p += 1 }
            var width = ""
            while p < s.count, ("0"..."9").contains(s[p]) { width.unicodeScalars.append(s[p]); p += 1 }
            var precision: Int?
            if p < s.count, s[p] == "." {
                p += 1
                var digits = ""
                while p < s.count, ("0"..."9").contains(s[p]) { digits.unicodeScalars.append(s[p]); p += 1 }
                precision = Int(digits) ?? 0
            }
            guard p < s.count else { throw i.error("incomplete format") }
            let conv = s[p]
            p += 1
            if conv == "%" { out += "%"; continue }
            let v = try value ?? take()
            var text: String
            switch conv {
            case "s": text = JinjaPythonFormat.str(v)
            case "r", "a": text = JinjaPythonFormat.repr(v)
            case "d", "i", "u":
                guard let n = v.numericValue else { throw i.error("%d format: a real number is required, not \(v.typeName)") }
                switch n {
                case .int(let x): text = String(x)
                case .double(let d): text = String(Int(d.rounded(.towardZero)))
                }
                if flags.contains("+"), !text.hasPrefix("-") { text = "+" + text }
            case "f", "F", "e", "E", "g", "G":
                guard let n = v.numericValue else { throw i.error("must be real number, not \(v.typeName)") }
                text = String(format: "%\(flags.contains("+") ? "+" : "").\(min(precision ?? 6, 100))\(Character(conv))", n.asDouble)
            case "x", "X", "o":
                guard case .int(let x)? = v.numericValue else { throw i.error("%x format: an integer is required") }
                text = String(x, radix: conv == "o" ? 8 : 16, uppercase: conv == "X")
            case "c":
                text = JinjaPythonFormat.str(v)
            default:
                throw i.error("unsupported format character '\(Character(conv))'")
            }
            if let precision, conv == "s" || conv == "r" { text = String(text.unicodeScalars.prefix(precision).map(Character.init)) }
            if let w = Int(width) {
                try i.checkSize(w)
                let fill: Unicode.Scalar = flags.contains("0") && !flags.contains("-") && conv != "s" ? "0" : " "
                text = JinjaStr.pad(text, width: w, fill: fill, align: flags.contains("-") ? "<" : ">")
            }
            out += text
        }
        if !mappingLike && next < positional.count {
            throw i.error("not all arguments converted during string formatting")
        }
        return out
    }

    /// `str.format` with `{}`, `{0}`, `{name}`, `{{`/`}}` and a basic spec (fill, align, width, precision, type).
    static func braceFormat(_ format: String, _ args: JinjaArguments, _ i: JinjaInterpreter) throws -> String {
        let s = Array(format.unicodeScalars)
        var out = ""
        var p = 0
        var auto = 0
        while p < s.count {
            let c = s[p]
            if c == "{" {
                if p + 1 < s.count, s[p + 1] == "{" { out += "{"; p += 2; continue }
                guard let close = s[p...].firstIndex(of: "}") else { throw i.error("Single '{' encountered in format string") }
                let field = JinjaStr.make(s[(p + 1)..<close])
                p = close + 1
                let parts = field.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0])
                let value: JinjaValue
                if name.isEmpty {
                    guard auto < args.positional.count else { throw i.error("Replacement index \(auto) out of range") }
                    value = args.positional[auto]
                    auto += 1
                } else if let n = Int(name) {
                    guard n < args.positional.count else { throw i.error("Replacement index \(n) out of range") }
                    value = args.positional[n]
                } else {
                    guard let v = args.keywordValue(name) else { throw i.error("KeyError: \(JinjaPythonFormat.stringRepr(name))") }
                    value = v
                }
                out += try applySpec(parts.count > 1 ? String(parts[1]) : "", value, i)
            } else if c == "}" {
                guard p + 1 < s.count, s[p + 1] == "}" else { throw i.error("Single '}' encountered in format string") }
                out += "}"
                p += 2
            } else {
                out.unicodeScalars.append(c)
                p += 1
            }
        }
        return out
    }

    private static func applySpec(_ spec: String, _ value: JinjaValue, _ i: JinjaInterpreter) throws -> String {
        if spec.isEmpty { return JinjaPythonFormat.str(value) }
        var s = Array(spec.unicodeScalars)
        var fill: Unicode.Scalar = " "
        var align: Character?
        if s.count >= 2, "<>^".unicodeScalars.contains(s[1]) { fill = s[0]; align = Character(s[1]); s.removeFirst(2) } else if let f = s.first, "<>^".unicodeScalars.contains(f) {
            align = Character(f); s.removeFirst()
        }
        var width = ""
        while let f = s.first, ("0"..."9").contains(f) { width.unicodeScalars.append(f); s.removeFirst() }
        var precision: Int?
        if s.first == "." {
            s.removeFirst()
            var digits = ""
            while let f = s.first, ("0"..."9").contains(f) { digits.unicodeScalars.append(f); s.removeFirst() }
            precision = Int(digits)
        }
        let type = s.first.map(Character.init)
        var text: String
        switch type {
        case "f", "e", "g", "%":
            guard let n = value.numericValue else { throw i.error("Unknown format code for \(value.typeName)") }
            text = type == "%" ? String(format: "%.\(min(precision ?? 6, 100))f%%", n.asDouble * 100)
                : String(format: "%.\(min(precision ?? 6, 100))\(type ?? "f")", n.asDouble)
        case "d": text = JinjaPythonFormat.str(value)
        default:
            text = JinjaPythonFormat.str(value)
            if let precision, case .string = value { text = JinjaStr.make(text.unicodeScalars.prefix(precision)) }
        }
        if let w = Int(width) {
            try i.checkSize(w)
            let numeric = value.numericValue != nil && !({ if case .bool = value { return true } else { return false } }())
            text = JinjaStr.pad(text, width: w, fill: fill, align: align ?? (numeric ? ">" : "<"))
        }
        return text
    }
}
