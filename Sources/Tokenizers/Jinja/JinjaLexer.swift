import Foundation

enum JinjaTokenKind: Equatable {
    case text(String)
    case variableBegin, variableEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    case op(String)
    case eof
}

struct JinjaToken {
    let kind: JinjaTokenKind
    let line: Int
}

/// Splits a template into text and tag tokens, following jinja2's lexer with the options transformers
/// uses: trim_blocks (drop the first newline after a block or comment tag), lstrip_blocks (drop spaces
/// and tabs between a line start and a block or comment tag), `-` to strip all whitespace on that side,
/// `+` to opt out, and keep_trailing_newline off.
struct JinjaLexer {
    private let s: [Unicode.Scalar]
    private var pos = 0
    private var line = 1
    private var tokens: [JinjaToken] = []
    /// jinja2's `line_starting`: whether the text consumed by the previous match ended with a newline.
    private var lineStarting = true

    static func tokenize(_ source: String) throws -> [JinjaToken] {
        var lexer = JinjaLexer(source: source)
        try lexer.run()
        return lexer.tokens
    }

    private init(source: String) {
        // Newlines are normalised to \n and one trailing newline is dropped, as jinja2 does.
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(source.unicodeScalars.count)
        var it = source.unicodeScalars.makeIterator()
        var pendingCR = false
        while let c = it.next() {
            if pendingCR {
                pendingCR = false
                scalars.append("\n")
                if c == "\n" { continue }
            }
            if c == "\r" { pendingCR = true } else { scalars.append(c) }
        }
        if pendingCR { scalars.append("\n") }
        if scalars.last == "\n" { scalars.removeLast() }
        self.s = scalars
    }

    private func at(_ i: Int) -> Unicode.Scalar? { i < s.count ? s[i] : nil }

    private func fail(_ message: String) -> ChatTemplateError { .syntax(message, line: line) }

    private mutating func emit(_ kind: JinjaTokenKind) { tokens.append(JinjaToken(kind: kind, line: line)) }

    private mutating func emitText(_ scalars: ArraySlice<Unicode.Scalar>) {
        if !scalars.isEmpty { emit(.text(String(String.UnicodeScalarView(scalars)))) }
        line += scalars.reduce(0) { $0 + ($1 == "\n" ? 1 : 0) }
    }

    private mutating func run() throws {
        while pos < s.count {
            // Find the next tag start.
            var i = pos
            var tagStart = -1
            while i + 1 < s.count {
                if s[i] == "{", let n = at(i + 1), n == "{" || n == "%" || n == "#" { tagStart = i; break }
                i += 1
            }
            if tagStart < 0 {
                emitText(s[pos...])
                pos = s.count
                break
            }
            let kind = s[tagStart + 1]
            let sign = at(tagStart + 2)
            let signLength = (sign == "-" || sign == "+") ? 1 : 0
            var text = s[pos..<tagStart]
            var newlinesStripped = 0
            if sign == "-" {
                let trimmed = Self.rstripWhitespace(text)
                newlinesStripped = text[trimmed.endIndex...].filter { $0 == "\n" }.count
                text = trimmed
            } else if sign != "+" && kind != "{" {
                text = lstripBlock(text)
            }
            emitText(text)
            line += newlinesStripped
            pos = tagStart + 2 + signLength
            lineStarting = false
            switch kind {
            case "#": try lexComment()
            case "{": try lexTag(end: "}", begin: .variableBegin, endKind: .variableEnd)
            default:
                if try lexRawIfPresent() { continue }
                try lexTag(end: "%", begin: .blockBegin, endKind: .blockEnd)
            }
        }
        emit(.eof)
    }

    /// lstrip_blocks: drop the spaces/tabs between the last line start and the tag.
    private func lstripBlock(_ text: ArraySlice<Unicode.Scalar>) -> ArraySlice<Unicode.Scalar> {
        let lastNewline = text.lastIndex(of: "\n")
        let lineStart = lastNewline.map { $0 + 1 } ?? text.startIndex
        guard lastNewline != nil || lineStarting else { return text }
        let tail = text[lineStart...]
        guard !tail.isEmpty, tail.allSatisfy({ Self.isPythonWhitespace($0) }) else { return text }
        return text[..<lineStart]
    }

    static func rstripWhitespace(_ text: ArraySlice<Unicode.Scalar>) -> ArraySlice<Unicode.Scalar> {
        var end = text.endIndex
        while end > text.startIndex, isPythonWhitespace(text[end - 1]) { end -= 1 }
        return text[text.startIndex..<end]
    }

    /// Python's `str.isspace` / regex `\s` for one character.
    static func isPythonWhitespace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x1F, 0x20, 0x85, 0xA0: return true
        default: return c.value > 0xFF && c.properties.isWhitespace
        }
    }

    /// Consumes a tag end (`%}`, `}}`, `#}`) at `pos` with its modifiers; returns false if none is there.
    private mutating func consumeTagEnd(_ close: Unicode.Scalar) -> Bool {
        // "-%}" strips all following whitespace; "+%}" keeps it; plain "%}" / "#}" drops one newline
        // (trim_blocks), "}}" nothing.
        if let c = at(pos), c == "-" || c == "+", at(pos + 1) == close, at(pos + 2) == "}" {
            if close == "}" && c == "+" { return false }
            pos += 3
            if c == "-" {
                let start = pos
                while let w = at(pos), Self.isPythonWhitespace(w) { pos += 1 }
                let skipped = s[start..<pos]
                line += skipped.filter { $0 == "\n" }.count
                lineStarting = skipped.last == "\n"
            } else {
                lineStarting = false
            }
            return true
        }
        if at(pos) == close, at(pos + 1) == "}" {
            pos += 2
            lineStarting = false
            if close != "}", at(pos) == "\n" {
                pos += 1
                line += 1
                lineStarting = true
            }
            return true
        }
        return false
    }

    private mutating func lexComment() throws {
        let startLine = line
        while pos < s.count {
            if (s[pos] == "#" && at(pos + 1) == "}") || ((s[pos] == "-" || s[pos] == "+") && at(pos + 1) == "#" && at(pos + 2) == "}") {
                if consumeTagEnd("#") { return }
            }
            if s[pos] == "\n" { line += 1 }
            pos += 1
        }
        throw ChatTemplateError.syntax("Missing end of comment tag", line: startLine)
    }

    /// `{% raw %}...{% endraw %}`: the body is text, untouched.
    private mutating func lexRawIfPresent() throws -> Bool {
        var p = pos
        while let c = at(p), Self.isPythonWhitespace(c) { p += 1 }
        guard Array(s[p..<min(p + 3, s.count)]) == ["r", "a", "w"] else { return false }
        p += 3
        if let c = at(p), c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil { return false }
        while let c = at(p), Self.isPythonWhitespace(c) { p += 1 }
        // The raw start tag ends with "%}" (no trim_blocks here, as in jinja2) or "-%}" plus whitespace.
        if at(p) == "-", at(p + 1) == "%", at(p + 2) == "}" {
            p += 3
            while let c = at(p), Self.isPythonWhitespace(c) { if c == "\n" { line += 1 }; p += 1 }
        } else if at(p) == "%", at(p + 1) == "}" {
            p += 2
        } else {
            return false
        }
        let bodyStart = p
        // Find "{%[-+]? endraw ...%}".
        while p + 1 < s.count {
            if s[p] == "{", s[p + 1] == "%" {
                var q = p + 2
                let sign = at(q)
                if sign == "-" || sign == "+" { q += 1 }
                while let c = at(q), Self.isPythonWhitespace(c) { q += 1 }
                if Array(s[q..<min(q + 6, s.count)]) == ["e", "n", "d", "r", "a", "w"] {
                    q += 6
                    while let c = at(q), Self.isPythonWhitespace(c) { q += 1 }
                    var body = s[bodyStart..<p]
                    if sign == "-" { body = Self.rstripWhitespace(body) } else if sign != "+" { body = lstripBlock(body) }
                    emitText(body)
                    line += s[body.endIndex..<p].filter { $0 == "\n" }.count
                    pos = q
                    guard consumeTagEnd("%") else { throw fail("Missing end of raw directive") }
                    return true
                }
            }
            p += 1
        }
        throw fail("Missing end of raw directive")
    }

    private static let operators: [String] = ["//", "**", "==", "!=", ">=", "<=",
                                              "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}",
                                              ">", "<", "=", ".", ":", "|", ",", ";"]

    private mutating func lexTag(end close: Unicode.Scalar, begin: JinjaTokenKind, endKind: JinjaTokenKind) throws {
        emit(begin)
        let startLine = line
        var balance: [Unicode.Scalar] = []
        while pos < s.count {
            let c = s[pos]
            if Self.isPythonWhitespace(c) {
                if c == "\n" { line += 1 }
                pos += 1
                continue
            }
            if balance.isEmpty {
                let tokenLine = line
                if consumeTagEnd(close) {
                    tokens.append(JinjaToken(kind: endKind, line: tokenLine))
                    return
                }
            }
            if c == "'" || c == "\"" {
                emit(.string(try lexString(quote: c)))
                continue
            }
            if c.properties.numericType != nil && ("0"..."9").contains(c) {
                emit(try lexNumber())
                continue
            }
            if c == "_" || c.properties.isAlphabetic {
                let start = pos
                while let d = at(pos), d == "_" || d.properties.isAlphabetic || ("0"..."9").contains(d) { pos += 1 }
                emit(.name(String(String.UnicodeScalarView(s[start..<pos]))))
                continue
            }
            var matched: String?
            for op in Self.operators {
                let scalars = Array(op.unicodeScalars)
                if pos + scalars.count <= s.count, Array(s[pos..<pos + scalars.count]) == scalars { matched = op; break }
            }
            guard let op = matched else { throw fail("unexpected char \(JinjaPythonFormat.stringRepr(String(c))) at \(pos)") }
            switch op {
            case "(": balance.append(")")
            case "[": balance.append("]")
            case "{": balance.append("}")
            case ")", "]", "}":
                guard let expected = balance.popLast() else { throw fail("unexpected '\(op)'") }
                if String(expected) != op { throw fail("unexpected '\(op)', expected '\(expected)'") }
            default: break
            }
            pos += op.unicodeScalars.count
            emit(.op(op))
        }
        throw ChatTemplateError.syntax("unexpected end of template inside a tag", line: startLine)
    }

    private mutating func lexNumber() throws -> JinjaTokenKind {
        let start = pos
        func digits(_ allowed: (Unicode.Scalar) -> Bool) {
            while let d = at(pos), allowed(d) || (d == "_" && at(pos + 1).map(allowed) == true) { pos += 1 }
        }
        let isDigit: (Unicode.Scalar) -> Bool = { ("0"..."9").contains($0) }
        if s[pos] == "0", let p = at(pos + 1), "xXoObB".unicodeScalars.contains(p) {
            pos += 2
            let radix: Int
            switch p {
            case "x", "X": radix = 16; digits { $0.properties.isASCIIHexDigit }
            case "o", "O": radix = 8; digits { ("0"..."7").contains($0) }
            default: radix = 2; digits { $0 == "0" || $0 == "1" }
            }
            let body = String(String.UnicodeScalarView(s[(start + 2)..<pos])).replacingOccurrences(of: "_", with: "")
            guard let v = Int(body, radix: radix) else { throw fail("invalid integer literal") }
            return .integer(v)
        }
        digits(isDigit)
        var isFloat = false
        if at(pos) == ".", let n = at(pos + 1), isDigit(n) {
            isFloat = true
            pos += 1
            digits(isDigit)
        }
        if let e = at(pos), e == "e" || e == "E" {
            var q = pos + 1
            if let sgn = at(q), sgn == "+" || sgn == "-" { q += 1 }
            if let d = at(q), isDigit(d) {
                isFloat = true
                pos = q
                digits(isDigit)
            }
        }
        let text = String(String.UnicodeScalarView(s[start..<pos])).replacingOccurrences(of: "_", with: "")
        if isFloat {
            guard let d = Double(text) else { throw fail("invalid float literal") }
            return .float(d)
        }
        guard let v = Int(text) else { throw fail("integer literal too large") }
        return .integer(v)
    }

    /// A string literal, unescaped the way jinja2 does it: Python's "unicode-escape" codec.
    private mutating func lexString(quote: Unicode.Scalar) throws -> String {
        let startLine = line
        pos += 1
        var out = String.UnicodeScalarView()
        while pos < s.count {
            let c = s[pos]
            if c == quote { pos += 1; return String(out) }
            if c == "\n" { line += 1 }
            if c == "\\", pos + 1 < s.count {
                let e = s[pos + 1]
                pos += 2
                switch e {
                case "\n": line += 1  // line continuation: both characters vanish
                case "\\": out.append("\\")
                case "'": out.append("'")
                case "\"": out.append("\"")
                case "a": out.append("\u{07}")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                case "v": out.append("\u{0B}")
                case "x", "u", "U":
                    let width = e == "x" ? 2 : (e == "u" ? 4 : 8)
                    guard pos + width <= s.count,
                          let v = UInt32(String(String.UnicodeScalarView(s[pos..<pos + width])), radix: 16),
                          let scalar = Unicode.Scalar(v)
                    else { throw fail("truncated \\\(e) escape in string literal") }
                    out.append(scalar)
                    pos += width
                case "0"..."7":
                    var v = e.value - 48
                    var n = 1
                    while n < 3, let d = at(pos), ("0"..."7").contains(d) { v = v * 8 + d.value - 48; pos += 1; n += 1 }
                    out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
                default:
                    // Unknown escapes keep their backslash, as in Python.
                    out.append("\\")
                    out.append(e)
                    if e == "\n" { line += 1 }
                }
                continue
            }
            out.append(c)
            pos += 1
        }
        throw ChatTemplateError.syntax("unexpected end of string literal", line: startLine)
    }
}
