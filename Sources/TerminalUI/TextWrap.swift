/// One visual line of wrapped text: characters [start, end) of the source's `Character` array.
public struct WrappedLine: Hashable, Sendable {
    public var start: Int
    public var end: Int
    public init(start: Int, end: Int) { self.start = start; self.end = end }
}

/// Word wrapping by display width (CJK and emoji take two columns).
public enum TextWrap {
    /// Wraps at spaces where it can, anywhere next to a wide (CJK) character, and inside a word only
    /// when the word alone is wider than the line. Newlines always break. Spaces at a wrap point stay
    /// at the end of the line they follow (not drawn if they overflow), so offsets map one to one.
    public static func lines(_ chars: [Character], width: Int) -> [WrappedLine] {
        let width = max(1, width)
        var result: [WrappedLine] = []
        var lineStart = 0
        var col = 0
        var lastBreak: Int? = nil   // index where the next line may start
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "\n" || c == "\r\n" {
                result.append(WrappedLine(start: lineStart, end: i))
                i += 1
                lineStart = i
                col = 0
                lastBreak = nil
                continue
            }
            let w = CharWidth.of(c)
            if c == " " {
                col += w
                i += 1
                lastBreak = i
                continue
            }
            if col + w > width, i > lineStart {
                // Break: at the last opportunity if there is one on this line, else right here.
                let cut = (lastBreak.map { $0 > lineStart ? $0 : i }) ?? i
                result.append(WrappedLine(start: lineStart, end: cut))
                lineStart = cut
                col = 0
                for k in cut..<i { col += CharWidth.of(chars[k]) }
                lastBreak = nil
                continue   // re-examine chars[i] on the new line
            }
            if w == 2 { lastBreak = i }   // may break before a wide character...
            col += w
            i += 1
            if w == 2 { lastBreak = i }   // ...and after it
        }
        result.append(WrappedLine(start: lineStart, end: chars.count))
        return result
    }

    /// The wrapped lines as strings, trailing spaces dropped.
    public static func wrap(_ text: String, width: Int) -> [String] {
        let chars = Array(text)
        return lines(chars, width: width).map { line in
            var s = String(chars[line.start..<line.end])
            while s.last == " " { s.removeLast() }
            return s
        }
    }
}
