import Foundation

/// Python's `str()` and `repr()` of template values: what `{{ value }}` prints in jinja2.
enum JinjaPythonFormat {
    static func str(_ value: JinjaValue) -> String {
        switch value {
        case .undefined: return ""
        case .string(let s): return s
        default: return repr(value)
        }
    }

    static func repr(_ value: JinjaValue) -> String {
        switch value {
        case .undefined: return "Undefined"  // repr(jinja2.Undefined()), seen when a list holds one
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return floatRepr(d)
        case .string(let s): return stringRepr(s)
        case .array(let items): return "[" + items.map(repr).joined(separator: ", ") + "]"
        case .tuple(let items):
            if items.count == 1 { return "(" + repr(items[0]) + ",)" }
            return "(" + items.map(repr).joined(separator: ", ") + ")"
        case .object(let object):
            return "{" + object.pairs.map { stringRepr($0.0) + ": " + repr($0.1) }.joined(separator: ", ") + "}"
        case .namespace(let ns):
            return "<Namespace " + repr(.object(ns.attributes)) + ">"
        case .callable(let fn): return "<function \(fn.name)>"
        }
    }

    /// Python's float repr: the shortest digits that round-trip (Swift's `description` finds the same
    /// digits), laid out fixed when the decimal exponent is in [-4, 16) and as `d.ddde+XX` otherwise.
    static func floatRepr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        let (negative, digits, exponent) = shortestDigits(d)
        // `exponent` is the power of ten of the first digit: value = 0.d1d2... * 10^(exponent + 1).
        var out = negative ? "-" : ""
        if exponent >= -4 && exponent < 16 {
            if exponent >= 0 {
                if digits.count <= exponent + 1 {
                    out += digits + String(repeating: "0", count: exponent + 1 - digits.count) + ".0"
                } else {
                    let idx = digits.index(digits.startIndex, offsetBy: exponent + 1)
                    out += digits[..<idx] + "." + digits[idx...]
                }
            } else {
                out += "0." + String(repeating: "0", count: -exponent - 1) + digits
            }
        } else {
            let first = digits.prefix(1)
            let rest = digits.dropFirst()
            out += first + (rest.isEmpty ? "" : "." + rest)
            let expAbs = abs(exponent)
            out += "e" + (exponent < 0 ? "-" : "+") + (expAbs < 10 ? "0" : "") + String(expAbs)
        }
        return out
    }

    /// Splits Swift's shortest round-trip description into sign, significant digits and exponent.
    private static func shortestDigits(_ d: Double) -> (Bool, String, Int) {
        let text = abs(d).description  // e.g. "1e-05", "1000000000000000.0", "1.5e+300", "0.001"
        var mantissa = Substring(text)
        var exp10 = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exp10 = Int(text[text.index(after: e)...]) ?? 0
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0])
        let fracPart = parts.count > 1 ? String(parts[1]) : ""
        var all = intPart + fracPart
        var pointPos = intPart.count  // digits before the decimal point
        while all.hasPrefix("0") && all.count > 1 { all.removeFirst(); pointPos -= 1 }
        while all.hasSuffix("0") && all.count > 1 { all.removeLast() }
        return (d < 0, all, pointPos - 1 + exp10)
    }

    /// Python's `repr(str)`: single quotes unless the text has a single quote and no double quote;
    /// escapes backslash, the chosen quote, \n \r \t, other non-printables as \xNN / \uNNNN / \UNNNNNNNN.
    static func stringRepr(_ s: String) -> String {
        let useDouble = s.contains("'") && !s.contains("\"")
        let quote: Character = useDouble ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if isPrintable(scalar) {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value < 0x100 {
                    out += "\\x" + hex(scalar.value, 2)
                } else if scalar.value < 0x10000 {
                    out += "\\u" + hex(scalar.value, 4)
                } else {
                    out += "\\U" + hex(scalar.value, 8)
                }
            }
        }
        out.append(quote)
        return out
    }

    /// Python's str.isprintable for one character: everything but categories Cc, Cf, Cs, Co, Cn, Zl,
    /// Zp and Zs other than the ASCII space.
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
             .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }

    static func hex(_ value: UInt32, _ width: Int) -> String {
        let h = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }
}
