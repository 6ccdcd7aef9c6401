/// Turns raw terminal input bytes into keys: UTF-8, C0 controls, xterm/VT escape sequences and
/// bracketed paste (`ESC [200~ ... ESC [201~`). Stateful, since a sequence can arrive split across reads.
///
/// A lone ESC is ambiguous (the Esc key, or the start of a sequence): the decoder keeps it pending and
/// the driver calls `flush()` when no more bytes came within a short timeout (as curses' ESCDELAY).
public struct KeyDecoder: Sendable {
    private var pending: [UInt8] = []
    private var pasting = false
    private var pasteBytes: [UInt8] = []

    public init() {}

    public var hasPending: Bool { !pending.isEmpty }

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Key] {
        pending.append(contentsOf: bytes)
        var keys: [Key] = []
        while let r = decodeOne(final: false) {
            pending.removeFirst(r.1)
            if let key = r.0 { keys.append(key) }
        }
        return keys
    }

    /// Called after an input timeout: whatever is pending is taken at face value.
    public mutating func flush() -> [Key] {
        var keys: [Key] = []
        // An unfinished paste waits for its end marker however long it takes.
        while !pending.isEmpty, !pasting {
            if let r = decodeOne(final: true) {
                pending.removeFirst(r.1)
                if let key = r.0 { keys.append(key) }
            } else {
                pending.removeFirst()   // cannot happen with final: true; guards against a stall
            }
        }
        return keys
    }

    /// Decodes one key from the front of `pending`: nil if more bytes are needed; a nil key if bytes
    /// were consumed without producing one (paste in progress, unknown sequence).
    private mutating func decodeOne(final: Bool) -> (Key?, Int)? {
        guard let b = pending.first else { return nil }
        if pasting { return decodePaste() }
        switch b {
        case 0x1B: return decodeEscape(final: final)
        case 0x0D: return (.enter, 1)
        case 0x09: return (.tab, 1)
        case 0x7F, 0x08: return (.backspace, 1)
        case 0x00: return (.ctrl(" "), 1)
        case 0x01...0x1A: return (.ctrl(Character(Unicode.Scalar(b + 0x60))), 1)
        case 0x1C...0x1F: return (nil, 1)
        case 0x20...0x7E: return (.char(Character(Unicode.Scalar(b))), 1)
        default: return decodeUTF8(final: final)
        }
    }

    private func decodeUTF8(final: Bool) -> (Key?, Int)? {
        guard let b = pending.first else { return nil }
        let n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
        if n == 1 { return (nil, 1) }   // stray continuation byte
        if pending.count < n { return final ? (nil, pending.count) : nil }
        let bytes = Array(pending[0..<n])
        guard let s = String(validating: bytes, as: UTF8.self), let c = s.first else { return (nil, 1) }
        return (.char(c), n)
    }

    private mutating func decodeEscape(final: Bool) -> (Key?, Int)? {
        if pending.count == 1 { return final ? (.escape, 1) : nil }
        let b1 = pending[1]
        switch b1 {
        case 0x5B: return decodeCSI(final: final)
        case 0x4F:   // SS3: ESC O x
            if pending.count < 3 { return final ? (.alt("O"), 2) : nil }
            let key: Key? = switch pending[2] {
            case 0x41: .up
            case 0x42: .down
            case 0x43: .right
            case 0x44: .left
            case 0x48: .home
            case 0x46: .end
            case 0x50: .f(1)
            case 0x51: .f(2)
            case 0x52: .f(3)
            case 0x53: .f(4)
            case 0x4D: .enter
            default: nil
            }
            return (key, 3)
        case 0x0D, 0x0A: return (.altEnter, 2)
        case 0x7F, 0x08: return (.altBackspace, 2)
        case 0x1B: return (.escape, 1)   // ESC ESC: the first is a plain Esc
        case 0x20...0x7E: return (.alt(Character(Unicode.Scalar(b1))), 2)
        default: return (.escape, 1)
        }
    }

    private mutating func decodeCSI(final: Bool) -> (Key?, Int)? {
        // ESC [ params final
        var i = 2
        while i < pending.count {
            let v = pending[i]
            if (0x40...0x7E).contains(v) { break }
            if !(0x20...0x3F).contains(v) { return (.alt("["), 2) }
            i += 1
        }
        if i >= pending.count { return final ? (.alt("["), 2) : nil }
        let finalByte = pending[i]
        let params = String(decoding: pending[2..<i], as: UTF8.self)
            .split(separator: ";", omittingEmptySubsequences: false).map { Int($0) ?? 0 }
        let used = i + 1
        let modifier = params.count > 1 ? params[1] : 1   // xterm: 1 + (shift 1 | alt 2 | ctrl 4)
        let ctrl = modifier > 1 && (modifier - 1) & 4 != 0
        let key: Key?
        switch finalByte {
        case 0x41: key = ctrl ? .ctrlUp : .up
        case 0x42: key = ctrl ? .ctrlDown : .down
        case 0x43: key = ctrl ? .ctrlRight : .right
        case 0x44: key = ctrl ? .ctrlLeft : .left
        case 0x48: key = .home
        case 0x46: key = .end
        case 0x5A: key = .backTab
        case 0x50: key = .f(1)
        case 0x51: key = .f(2)
        case 0x52: key = .f(3)
        case 0x53: key = .f(4)
        case 0x7E:
            switch params.first ?? 0 {
            case 1, 7: key = .home
            case 2: key = .insert
            case 3: key = .delete
            case 4, 8: key = .end
            case 5: key = .pageUp
            case 6: key = .pageDown
            case 11...15: key = .f((params.first ?? 11) - 10)
            case 17...21: key = .f((params.first ?? 17) - 11)
            case 23, 24: key = .f((params.first ?? 23) - 12)
            case 200:
                pasting = true
                pasteBytes = []
                key = nil
            default: key = nil
            }
        default: key = nil
        }
        return (key, used)
    }

    private static let pasteEnd: [UInt8] = Array("\u{1B}[201~".utf8)

    private mutating func decodePaste() -> (Key?, Int)? {
        // Look for the end marker; everything before it is pasted text.
        let end = Self.pasteEnd
        if pending.count >= end.count {
            for start in 0...(pending.count - end.count) where pending[start] == 0x1B {
                if Array(pending[start..<(start + end.count)]) == end {
                    pasteBytes.append(contentsOf: pending[0..<start])
                    pasting = false
                    let text = String(decoding: pasteBytes, as: UTF8.self)
                    pasteBytes = []
                    return (.paste(text), start + end.count)
                }
            }
        }
        // Keep a tail that might be the start of the end marker; take the rest.
        let keep = min(pending.count, end.count - 1)
        let take = pending.count - keep
        if take == 0 { return nil }
        pasteBytes.append(contentsOf: pending[0..<take])
        return (nil, take)
    }
}
