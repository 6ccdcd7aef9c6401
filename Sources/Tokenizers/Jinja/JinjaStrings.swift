import Foundation

/// Python `str` operations, on Unicode scalars (Python indexes strings by code point, Swift by grapheme).
enum JinjaStr {
    typealias Scalars = [Unicode.Scalar]

    static func make<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    static func find(_ hay: Scalars, _ needle: Scalars, from start: Int) -> Int? {
        if needle.isEmpty { return start <= hay.count ? start : nil }
        guard hay.count >= needle.count, start <= hay.count - needle.count else { return nil }
        var i = max(start, 0)
        while i <= hay.count - needle.count {
            if hay[i] == needle[0] && hay[i..<i + needle.count].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    static func rfind(_ hay: Scalars, _ needle: Scalars) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = hay.count - needle.count
        while i >= 0 {
            if hay[i..<i + needle.count].elementsEqual(needle) { return i }
            i -= 1
        }
        return nil
    }

    static func count(_ hay: Scalars, _ needle: Scalars) -> Int {
        if needle.isEmpty { return hay.count + 1 }
        var n = 0
        var i = 0
        while let j = find(hay, needle, from: i) { n += 1; i = j + needle.count }
        return n
    }

    static func replace(_ s: String, _ old: String, _ new: String, count limit: Int = -1) -> String {
        let hay = Array(s.unicodeScalars), o = Array(old.unicodeScalars), n = Array(new.unicodeScalars)
        var out: Scalars = []
        var i = 0
        var done = 0
        if o.isEmpty {
            // Python inserts `new` between every character (and at both ends).
            for c in hay {
                if limit < 0 || done < limit { out += n; done += 1 }
                out.append(c)
            }
            if limit < 0 || done < limit { out += n }
            return make(out)
        }
        while limit < 0 || done < limit, let j = find(hay, o, from: i) {
            out += hay[i..<j]
            out += n
            i = j + o.count
            done += 1
        }
        out += hay[i...]
        return make(out)
    }

    /// Upper bound of the UTF-8 size `replace` would produce, to refuse explosions before building them.
    static func replacedSize(_ s: String, _ old: String, _ new: String, count limit: Int) -> Int {
        let hay = Array(s.unicodeScalars)
        var n = old.isEmpty ? hay.count + 1 : JinjaStr.count(hay, Array(old.unicodeScalars))
        if limit >= 0 { n = min(n, limit) }
        let (grow, overflow) = n.multipliedReportingOverflow(by: new.utf8.count)
        return overflow ? Int.max : s.utf8.count &+ grow
    }

    /// `str.strip(chars)`; nil chars means Python whitespace.
    static func strip(_ s: String, _ chars: String?, left: Bool = true, right: Bool = true) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        let drop: (Unicode.Scalar) -> Bool = { c in set.map { $0.contains(c) } ?? JinjaLexer.isPythonWhitespace(c) }
        let a = Array(s.unicodeScalars)
        var lo = 0, hi = a.count
        if left { while lo < hi, drop(a[lo]) { lo += 1 } }
        if right { while hi > lo, drop(a[hi - 1]) { hi -= 1 } }
        return make(a[lo..<hi])
    }

    /// `str.split(sep, maxsplit)`; a nil separator splits on whitespace runs and drops empty parts.
    static func split(_ s: String, _ sep: String?, _ maxSplit: Int) -> [String] {
        let a = Array(s.unicodeScalars)
        var parts: [String] = []
        if let sep {
            let p = Array(sep.unicodeScalars)
            var i = 0
            while maxSplit < 0 || parts.count < maxSplit, let j = find(a, p, from: i) {
                parts.append(make(a[i..<j]))
                i = j + p.count
            }
            parts.append(make(a[i...]))
            return parts
        }
        var i = 0
        while i < a.count {
            while i < a.count, JinjaLexer.isPythonWhitespace(a[i]) { i += 1 }
            if i >= a.count { break }
            if maxSplit >= 0 && parts.count >= maxSplit {
                // Python keeps the remainder as it is, trailing whitespace included.
                parts.append(make(a[i...]))
                break
            }
            let start = i
            while i < a.count, !JinjaLexer.isPythonWhitespace(a[i]) { i += 1 }
            parts.append(make(a[start..<i]))
        }
        return parts
    }

    static func rsplit(_ s: String, _ sep: String?, _ maxSplit: Int) -> [String] {
        guard maxSplit >= 0 else { return split(s, sep, -1) }
        // Reverse, split from the left, reverse back: equivalent for both separator modes.
        let rev = make(s.unicodeScalars.reversed())
        let revSep = sep.map { make($0.unicodeScalars.reversed()) }
        return split(rev, revSep, maxSplit).reversed().map { make($0.unicodeScalars.reversed()) }
    }

    private static let lineBreaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029]

    static func splitlines(_ s: String, keepEnds: Bool = false) -> [String] {
        let a = Array(s.unicodeScalars)
        var lines: [String] = []
        var start = 0
        var i = 0
        while i < a.count {
            if lineBreaks.contains(a[i].value) {
                var end = i + 1
                if a[i] == "\r", i + 1 < a.count, a[i + 1] == "\n" { end += 1 }
                lines.append(make(a[start..<(keepEnds ? end : i)]))
                start = end
                i = end
            } else {
                i += 1
            }
        }
        if start < a.count { lines.append(make(a[start...])) }
        return lines
    }

    static func isCased(_ c: Unicode.Scalar) -> Bool {
        c.properties.isLowercase || c.properties.isUppercase || c.properties.generalCategory == .titlecaseLetter
    }

    /// Python `str.title()`: a cased character is uppercased after an uncased one, lowercased otherwise.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            if isCased(c) {
                out += previousCased ? String(c).lowercased() : String(c).uppercased()
                previousCased = true
            } else {
                out.unicodeScalars.append(c)
                previousCased = false
            }
        }
        return out
    }

    /// Python `str.capitalize()`: first character upper, the rest lower.
    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        return String(first).uppercased() + make(s.unicodeScalars.dropFirst()).lowercased()
    }

    static func swapcase(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            if c.properties.isUppercase { out += String(c).lowercased() } else if c.properties.isLowercase {
                out += String(c).uppercased()
            } else { out.unicodeScalars.append(c) }
        }
        return out
    }

    static func length(_ s: String) -> Int { s.unicodeScalars.count }

    static func pad(_ s: String, width: Int, fill: Unicode.Scalar, align: Character) -> String {
        let n = length(s)
        guard width > n else { return s }
        let total = width - n
        let f = String(Character(fill))
        switch align {
        case "<": return s + String(repeating: f, count: total)
        case ">": return String(repeating: f, count: total) + s
        default:
            // CPython's pad(): the odd extra space goes left when both the margin and the width are odd.
            let left = total / 2 + (total & width & 1)
            return String(repeating: f, count: left) + s + String(repeating: f, count: total - left)
        }
    }
}
