import Foundation

/// Turns generated ids into text as they arrive, never emitting half a UTF-8 character: bytes of an
/// incomplete character wait until the character is complete (or `flush`). Concatenating every returned
/// chunk and the final `flush()` gives the lossy decoding of `decodeBytes` of all ids.
public struct StreamingDetokenizer: Sendable {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    private var previousID: Int?
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one id; returns the text that became printable (often "", e.g. mid-character).
    public mutating func append(_ id: Int) -> String {
        if skipSpecialTokens && tokenizer.isSpecial(id) { return "" }
        // Decode the new id together with the previous one and keep the difference: decoders that treat
        // the first token specially (Metaspace, Strip) then see it in the middle, as in the full decode.
        let delta: [UInt8]
        if let previous = previousID {
            let before = tokenizer.decodeBytes([previous], skipSpecialTokens: skipSpecialTokens)
            let both = tokenizer.decodeBytes([previous, id], skipSpecialTokens: skipSpecialTokens)
            delta = both.starts(with: before) ? Array(both[before.count...])
                                              : tokenizer.decodeBytes([id], skipSpecialTokens: skipSpecialTokens)
        } else {
            delta = tokenizer.decodeBytes([id], skipSpecialTokens: skipSpecialTokens)
        }
        previousID = id
        pending.append(contentsOf: delta)
        let cut = UTF8Util.incompleteTailStart(pending)
        guard cut > 0 else { return "" }
        let text = UTF8Util.lossy(pending[..<cut])
        pending.removeSubrange(..<cut)
        return text
    }

    /// Returns whatever is still held back (an incomplete character becomes U+FFFD) and resets.
    public mutating func flush() -> String {
        let text = UTF8Util.lossy(pending)
        pending.removeAll()
        previousID = nil
        return text
    }
}
