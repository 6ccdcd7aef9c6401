/// Terminal column widths of characters, in the spirit of POSIX `wcwidth`, but deterministic (no locale)
/// and per grapheme cluster (Swift `Character`), which is what a cell holds.
///
/// Why not Glibc `wcwidth`: it answers -1 for every non-ASCII scalar unless the process locale is UTF-8,
/// so tests and headless renders would depend on the environment. The table below follows Unicode's
/// East Asian Width property (classes W and F are two columns) and the Emoji_Presentation property,
/// which is what current terminals (VTE, kitty, xterm with wide chars) use.
public enum CharWidth {
    /// Columns taken by one grapheme cluster: 0, 1 or 2.
    public static func of(_ character: Character) -> Int {
        let scalars = character.unicodeScalars
        guard let first = scalars.first else { return 0 }
        // A variation selector 16 asks for emoji presentation: two columns (e.g. "\u{2764}\u{FE0F}").
        if scalars.count > 1, scalars.contains("\u{FE0F}") { return 2 }
        // A pair of regional indicators is a flag: two columns.
        if scalars.count > 1, (0x1F1E6...0x1F1FF).contains(first.value) { return 2 }
        return of(first)
    }

    /// Columns taken by one scalar standing alone.
    public static func of(_ scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        if v < 0x20 || (0x7F..<0xA0).contains(v) { return 0 }
        if v < 0x300 { return 1 }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if (0x1160...0x11FF).contains(v) { return 0 }   // Hangul medial vowels and final consonants join.
        if (0x1F1E6...0x1F1FF).contains(v) { return 1 }  // a lone regional indicator (a pair is a flag: 2)
        if scalar.properties.isEmojiPresentation { return 2 }
        return isWide(v) ? 2 : 1
    }

    /// Columns taken by a string.
    public static func of(_ text: some StringProtocol) -> Int {
        var total = 0
        for c in text { total += of(c) }
        return total
    }

    /// East Asian Width W or F ranges (merged where adjacent; emoji are handled by the
    /// Emoji_Presentation property instead). Checked against glibc's `wcwidth` in C.UTF-8 (the width
    /// ncursesw places characters by), including its choice of two columns for U+4DC0-4DFF.
    static let wideRanges: [ClosedRange<UInt32>] = [
        0x1100...0x115F, 0x2329...0x232A, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x9FFF, 0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF,
        0xFE10...0xFE19, 0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x16FE0...0x16FE4,
        0x17000...0x18CFF, 0x1B000...0x1B16F, 0x1F200...0x1F251, 0x1F260...0x1F265, 0x20000...0x2FFFD, 0x30000...0x3FFFD,
    ]

    static func isWide(_ v: UInt32) -> Bool {
        // Binary search over the sorted, disjoint ranges.
        var lo = 0, hi = wideRanges.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let r = wideRanges[mid]
            if v < r.lowerBound { hi = mid - 1 } else if v > r.upperBound { lo = mid + 1 } else { return true }
        }
        return false
    }
}
