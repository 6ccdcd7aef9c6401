import Foundation

/// tokenizer.json `normalizer`: rewrites each piece of text between added tokens before pre-tokenization.
/// Offsets are not tracked (the pipeline never returns them), so a normalizer is just String -> String.
protocol Normalizer: Sendable {
    func normalize(_ text: String) -> String
}

enum Normalizers {
    static func make(_ json: JSONReader) throws -> any Normalizer {
        let type = try json.string("type")
        switch type {
        case "Sequence":
            return SequenceNormalizer(steps: try json.readers("normalizers").map(make))
        case "NFC": return UnicodeNormalizer(form: .nfc)
        case "NFD": return UnicodeNormalizer(form: .nfd)
        case "NFKC": return UnicodeNormalizer(form: .nfkc)
        case "NFKD": return UnicodeNormalizer(form: .nfkd)
        case "Lowercase": return LowercaseNormalizer()
        case "StripAccents": return StripAccentsNormalizer()
        case "Strip":
            return StripNormalizer(left: try json.bool("strip_left", default: true),
                                   right: try json.bool("strip_right", default: true))
        case "Prepend":
            return PrependNormalizer(prefix: try json.string("prepend"))
        case "Replace":
            return try ReplaceNormalizer(pattern: json.pattern("pattern"), content: json.string("content"),
                                         section: json.section)
        default:
            throw TokenizerError.unsupportedType(section: json.section, type: type)
        }
    }
}

struct SequenceNormalizer: Normalizer {
    let steps: [any Normalizer]
    func normalize(_ text: String) -> String { steps.reduce(text) { $1.normalize($0) } }
}

struct UnicodeNormalizer: Normalizer {
    enum Form: Sendable { case nfc, nfd, nfkc, nfkd }
    let form: Form

    func normalize(_ text: String) -> String {
        // Fast path: scalars below U+0300 (ASCII, Latin-1, Latin Extended-A/B) are unchanged by NFC and NFD
        // never decomposes ASCII; only NFC of such text is safe to skip in general.
        switch form {
        case .nfc:
            if text.unicodeScalars.allSatisfy({ $0.value < 0x300 }) { return text }
            return text.precomposedStringWithCanonicalMapping
        case .nfd:
            if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
            return text.decomposedStringWithCanonicalMapping
        case .nfkc:
            if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
            return text.precomposedStringWithCompatibilityMapping
        case .nfkd:
            if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
            return text.decomposedStringWithCompatibilityMapping
        }
    }
}

/// Per-scalar full lowercase mapping, like Rust's `char::to_lowercase` used by tokenizers (no
/// context-dependent final-sigma rule, unlike some whole-string lowercasers).
struct LowercaseNormalizer: Normalizer {
    func normalize(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text.lowercased() }
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars { out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars) }
        return String(out)
    }
}

/// Removes combining marks (tokenizers' `is_combining_mark`: categories Mn, Mc, Me).
struct StripAccentsNormalizer: Normalizer {
    func normalize(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            switch s.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark: continue
            default: out.append(s)
            }
        }
        return String(out)
    }
}

struct StripNormalizer: Normalizer {
    let left: Bool
    let right: Bool
    func normalize(_ text: String) -> String {
        var scalars = Substring(text).unicodeScalars
        if left { while let f = scalars.first, f.properties.isWhitespace { scalars.removeFirst() } }
        if right { while let l = scalars.last, l.properties.isWhitespace { scalars.removeLast() } }
        return String(scalars)
    }
}

struct PrependNormalizer: Normalizer {
    let prefix: String
    /// tokenizers prepends only to non-empty text.
    func normalize(_ text: String) -> String { text.isEmpty ? text : prefix + text }
}

struct ReplaceNormalizer: Normalizer {
    let pattern: Pattern
    let regex: CompiledRegex?
    let content: String

    init(pattern: Pattern, content: String, section: String) throws {
        self.pattern = pattern
        self.content = content
        if case .regex = pattern { regex = try pattern.compile(section: section) } else { regex = nil }
    }

    func normalize(_ text: String) -> String {
        switch pattern {
        case .string(let literal): return replaceLiteral(text, literal, content)
        case .regex: return regex.map { $0.replaceAll(in: text, with: content) } ?? text
        }
    }
}

/// Byte-exact literal replacement (Foundation's `replacingOccurrences` compares by canonical equivalence).
func replaceLiteral(_ text: String, _ target: String, _ replacement: String) -> String {
    let t = Array(target.utf8)
    guard !t.isEmpty else { return text }
    let bytes = Array(text.utf8)
    guard bytes.count >= t.count else { return text }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    var changed = false
    while i < bytes.count {
        if bytes[i] == t[0], i + t.count <= bytes.count, bytes[i..<(i + t.count)].elementsEqual(t) {
            out.append(contentsOf: replacement.utf8)
            i += t.count
            changed = true
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return changed ? String(decoding: out, as: UTF8.self) : text
}
