import Foundation

/// A regex compiled once with ICU (NSRegularExpression). tokenizers compiles the same patterns with
/// Oniguruma; the syntax used by tokenizer.json files (\p{L}, \p{N}, lookahead, (?i:...)) means the same in
/// both. NSRegularExpression is immutable after creation and documented thread-safe.
struct CompiledRegex: @unchecked Sendable {
    let regex: NSRegularExpression
    let pattern: String

    init(pattern: String, section: String) throws {
        do {
            regex = try NSRegularExpression(pattern: pattern, options: [])
        } catch {
            throw TokenizerError.invalidRegex(section: section, pattern: pattern, reason: String(describing: error))
        }
        self.pattern = pattern
    }

    init(literal: String, section: String) throws {
        try self.init(pattern: NSRegularExpression.escapedPattern(for: literal), section: section)
    }

    /// Cuts `text` into consecutive segments covering all of it, each flagged whether it is a match.
    /// Empty matches are dropped (they would only produce empty pieces, which tokenizers filters out).
    func segments(_ text: Substring) -> [(range: Range<String.Index>, isMatch: Bool)] {
        let string = String(text)
        let utf16 = string.utf16
        let matches = regex.matches(in: string, options: [], range: NSRange(location: 0, length: utf16.count))
        var result: [(range: Range<String.Index>, isMatch: Bool)] = []
        // Walk the UTF-16 view forward once: offsets grow monotonically, so this stays linear.
        var cursor = utf16.startIndex
        var cursorOffset = 0
        func index(at offset: Int) -> String.Index {
            cursor = utf16.index(cursor, offsetBy: offset - cursorOffset)
            cursorOffset = offset
            return cursor
        }
        var previous = string.startIndex
        for m in matches where m.range.length > 0 {
            let start = index(at: m.range.location)
            let end = index(at: m.range.location + m.range.length)
            if previous < start { result.append((previous..<start, false)) }
            result.append((start..<end, true))
            previous = end
        }
        if previous < string.endIndex { result.append((previous..<string.endIndex, false)) }
        // Ranges index `string`, a copy of `text`; rebase them onto `text`.
        if text.startIndex == string.startIndex && text.endIndex == string.endIndex { return result }
        return result.map { seg in
            let lo = text.utf8.index(text.startIndex, offsetBy: string.utf8.distance(from: string.startIndex, to: seg.range.lowerBound))
            let hi = text.utf8.index(lo, offsetBy: string.utf8.distance(from: seg.range.lowerBound, to: seg.range.upperBound))
            return (lo..<hi, seg.isMatch)
        }
    }

    /// Replaces every match with `template` taken literally (tokenizers' Replace does no `$1` expansion).
    func replaceAll(in text: String, with replacement: String) -> String {
        var out = ""
        for seg in segments(Substring(text)) {
            if seg.isMatch { out += replacement } else { out += text[seg.range] }
        }
        return out
    }
}

/// How a Split-like pre-tokenizer treats the matched delimiters (tokenizers `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    /// Applies the behavior to segments that cover the text in order; returns the pieces' ranges, none
    /// empty. Mirrors `NormalizedString::split` in tokenizers `normalizer.rs`.
    func apply(_ segments: [(range: Range<String.Index>, isMatch: Bool)]) -> [Range<String.Index>] {
        switch self {
        case .isolated:
            return segments.map(\.range)
        case .removed:
            return segments.filter { !$0.isMatch }.map(\.range)
        case .contiguous:
            var out: [(range: Range<String.Index>, isMatch: Bool)] = []
            for seg in segments {
                if let last = out.last, last.isMatch == seg.isMatch {
                    out[out.count - 1].range = last.range.lowerBound..<seg.range.upperBound
                } else {
                    out.append(seg)
                }
            }
            return out.map(\.range)
        case .mergedWithPrevious:
            var out: [Range<String.Index>] = []
            var previousWasMatch = false
            for seg in segments {
                if seg.isMatch && !previousWasMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<seg.range.upperBound
                } else {
                    out.append(seg.range)
                }
                previousWasMatch = seg.isMatch
            }
            return out
        case .mergedWithNext:
            var out: [Range<String.Index>] = []
            var nextWasMatch = false
            for seg in segments.reversed() {
                if seg.isMatch && !nextWasMatch, let last = out.last {
                    out[out.count - 1] = seg.range.lowerBound..<last.upperBound
                } else {
                    out.append(seg.range)
                }
                nextWasMatch = seg.isMatch
            }
            return out.reversed()
        }
    }
}

/// Segments of `text` where each scalar satisfying `isMatch` is its own match (tokenizers' char-predicate
/// pattern), the runs between them non-matches.
func scalarSegments(_ text: Substring, _ isMatch: (Unicode.Scalar) -> Bool) -> [(range: Range<String.Index>, isMatch: Bool)] {
    var result: [(range: Range<String.Index>, isMatch: Bool)] = []
    let scalars = text.unicodeScalars
    var runStart = scalars.startIndex
    var i = scalars.startIndex
    while i < scalars.endIndex {
        let next = scalars.index(after: i)
        if isMatch(scalars[i]) {
            if runStart < i { result.append((runStart..<i, false)) }
            result.append((i..<next, true))
            runStart = next
        }
        i = next
    }
    if runStart < scalars.endIndex { result.append((runStart..<scalars.endIndex, false)) }
    return result
}
