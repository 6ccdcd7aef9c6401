import Foundation

/// One entry of tokenizer.json `added_tokens`.
struct AddedToken: Sendable, Equatable {
    let id: Int
    let content: String
    let singleWord: Bool
    let lstrip: Bool
    let rstrip: Bool
    let normalized: Bool
    let special: Bool

    init(_ json: JSONReader) throws {
        id = try json.int("id")
        content = try json.string("content")
        singleWord = try json.bool("single_word", default: false)
        lstrip = try json.bool("lstrip", default: false)
        rstrip = try json.bool("rstrip", default: false)
        special = try json.bool("special", default: false)
        normalized = try json.bool("normalized", default: !special)
    }
}

/// A piece of input after added-token splitting: plain text still to tokenize, or a finished token.
enum AddedSegment {
    case text(Substring)
    case token(Int)
}

/// Finds added tokens in text the way tokenizers' `AddedVocabulary::find_matches` does: an
/// Aho-Corasick leftmost-longest scan (earliest start wins, then the longest token there), matches never
/// overlap, and the search resumes after a match even when `single_word` then rejects it.
struct AddedTokenMatcher: Sendable {
    private struct Candidate: Sendable {
        let bytes: [UInt8]
        let token: AddedToken
    }
    /// Candidates by first UTF-8 byte, longest first.
    private let buckets: [[Candidate]]
    let isEmpty: Bool
    /// tokenizer_config.json `split_special_tokens`: special tokens in the text are not matched and get
    /// tokenized like ordinary text (tokenizers' `encode_special_tokens`).
    let splitSpecialTokens: Bool

    /// `patterns` pairs each token with the text to search for (its normalized form for normalized tokens).
    init(_ patterns: [(token: AddedToken, pattern: String)], splitSpecialTokens: Bool = false) {
        self.splitSpecialTokens = splitSpecialTokens
        var buckets = [[Candidate]](repeating: [], count: 256)
        for (token, pattern) in patterns {
            let bytes = Array(pattern.utf8)
            guard let first = bytes.first else { continue }
            buckets[Int(first)].append(Candidate(bytes: bytes, token: token))
        }
        for i in 0..<256 { buckets[i].sort { $0.bytes.count > $1.bytes.count } }
        self.buckets = buckets
        isEmpty = patterns.isEmpty
    }

    func split(_ text: Substring) -> [AddedSegment] {
        if isEmpty { return text.isEmpty ? [] : [.text(text)] }
        let utf8 = text.utf8
        let bytes = Array(utf8)
        let n = bytes.count
        var segments: [AddedSegment] = []
        var startOffset = 0   // end of the last accepted match (bytes)
        var i = 0
        func index(_ offset: Int) -> String.Index { utf8.index(utf8.startIndex, offsetBy: offset) }
        while i < n {
            var found: Candidate?
            for c in buckets[Int(bytes[i])] where i + c.bytes.count <= n {
                if bytes[i..<(i + c.bytes.count)].elementsEqual(c.bytes) { found = c; break }
            }
            guard let match = found else { i += 1; continue }
            var start = i
            var stop = i + match.bytes.count
            i = stop
            let token = match.token
            if splitSpecialTokens && token.special { continue }
            if token.singleWord {
                // \w as in tokenizers' regexes: letters, marks, digits, connector punctuation.
                let before = start == 0 ? nil : text[..<index(start)].unicodeScalars.last
                let after = stop == n ? nil : text[index(stop)...].unicodeScalars.first
                if before.map(Self.isWordScalar) == true || after.map(Self.isWordScalar) == true { continue }
            }
            if token.lstrip {
                var s = text[..<index(start)].unicodeScalars
                while let last = s.last, last.properties.isWhitespace { s.removeLast() }
                start = max(utf8.distance(from: utf8.startIndex, to: s.endIndex), startOffset)
            }
            if token.rstrip {
                var s = text[index(stop)...].unicodeScalars
                while let first = s.first, first.properties.isWhitespace { s.removeFirst() }
                stop = utf8.distance(from: utf8.startIndex, to: s.startIndex)
            }
            if start < startOffset { start = startOffset }   // overlap left by a previous rstrip
            if start > startOffset { segments.append(.text(text[index(startOffset)..<index(start)])) }
            segments.append(.token(token.id))
            startOffset = max(stop, start)
            i = max(i, startOffset)
        }
        if startOffset < n { segments.append(.text(text[index(startOffset)...])) }
        return segments
    }

    static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII {
            let v = s.value
            return (0x30...0x39).contains(v) || (0x41...0x5A).contains(v) || (0x61...0x7A).contains(v) || v == 0x5F
        }
        let p = s.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}
