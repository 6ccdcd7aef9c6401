/// Makes untrusted text (model output, file names, pasted text) safe to draw: a model can emit bytes
/// that a terminal would obey (ESC sequences that move the cursor, retitle the window, write to the
/// clipboard with OSC 52...). Curses would pass many of them through, so they are removed before the
/// text reaches a canvas.
public enum Sanitizer {
    /// Removes ESC sequences (CSI, OSC, DCS/APC/PM/SOS strings, two-byte escapes), C0 controls other
    /// than newline, C1 controls, DEL and bidirectional overrides. Tabs become `tabWidth` spaces,
    /// CR LF and lone CR become LF. With `singleLine`, newlines become spaces too (file names, titles).
    public static func clean(_ text: String, tabWidth: Int = 4, singleLine: Bool = false) -> String {
        cleanMapped(text, tabWidth: tabWidth, singleLine: singleLine).text
    }

    /// `clean`, also giving for each scalar of the result the index of the input scalar it came from
    /// (so per-token colours can follow the text through the cleaning).
    public static func cleanMapped(_ text: String, tabWidth: Int = 4, singleLine: Bool = false) -> (text: String, origins: [Int]) {
        var out = String.UnicodeScalarView()
        var origins: [Int] = []
        let scalars = Array(text.unicodeScalars)
        var i = 0
        func emit(_ s: Unicode.Scalar, from index: Int) {
            out.append(s)
            origins.append(index)
        }
        while i < scalars.count {
            let s = scalars[i]
            let v = s.value
            let at = i
            i += 1
            switch v {
            case 0x1B:
                i = skipEscape(scalars, from: i)
            case 0x9B:   // C1 CSI
                i = skipCSI(scalars, from: i)
            case 0x9D, 0x90, 0x98, 0x9E, 0x9F:   // C1 OSC, DCS, SOS, PM, APC: strings up to ST
                i = skipString(scalars, from: i)
            case 0x0A:
                emit(singleLine ? " " : "\n", from: at)
            case 0x0D:
                if i < scalars.count, scalars[i].value == 0x0A { continue }
                emit(singleLine ? " " : "\n", from: at)
            case 0x09:
                for _ in 0..<max(1, tabWidth) { emit(" ", from: at) }
            case 0..<0x20, 0x7F, 0x80..<0xA0:
                continue
            case 0x202A...0x202E, 0x2066...0x2069:
                continue   // bidi embeddings/overrides/isolates could reorder what is drawn after them
            default:
                emit(s, from: at)
            }
        }
        return (String(out), origins)
    }

    /// Index after an escape sequence whose ESC was just consumed.
    static func skipEscape(_ s: [Unicode.Scalar], from start: Int) -> Int {
        guard start < s.count else { return start }
        switch s[start].value {
        case 0x5B: return skipCSI(s, from: start + 1)                          // ESC [
        case 0x5D, 0x50, 0x58, 0x5E, 0x5F: return skipString(s, from: start + 1) // ESC ] P X ^ _
        case 0x20...0x2F:
            // nF escapes: intermediates then one final byte.
            var i = start
            while i < s.count, (0x20...0x2F).contains(s[i].value) { i += 1 }
            return min(i + 1, s.count)
        default: return start + 1   // two-byte escape (ESC c, ESC 7, ...)
        }
    }

    /// CSI: parameter bytes 0x30-0x3F, intermediates 0x20-0x2F, one final byte 0x40-0x7E.
    static func skipCSI(_ s: [Unicode.Scalar], from start: Int) -> Int {
        var i = start
        while i < s.count {
            let v = s[i].value
            i += 1
            if (0x40...0x7E).contains(v) { return i }
            if !(0x20...0x3F).contains(v) { return i - 1 }   // malformed: stop before the stray byte
        }
        return i
    }

    /// Control strings end at BEL, ST (ESC \) or C1 ST.
    static func skipString(_ s: [Unicode.Scalar], from start: Int) -> Int {
        var i = start
        while i < s.count {
            let v = s[i].value
            if v == 0x07 || v == 0x9C { return i + 1 }
            if v == 0x1B {
                return i + 1 < s.count && s[i + 1].value == 0x5C ? i + 2 : i + 1
            }
            i += 1
        }
        return i
    }
}
