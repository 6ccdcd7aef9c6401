/// A multi-line text field with Emacs key bindings, a kill ring of one, and history.
/// Positions are offsets in the text's `Character`s.
public struct LineEditor: Sendable, Equatable {
    public private(set) var chars: [Character] = []
    public private(set) var cursor = 0
    public private(set) var history: [String] = []
    private var historyIndex: Int? = nil
    private var draft: [Character] = []
    private var killed: [Character] = []

    public init(history: [String] = []) { self.history = history }

    public var text: String { String(chars) }
    public var isEmpty: Bool { chars.isEmpty }

    public mutating func setText(_ text: String) {
        chars = Array(text)
        cursor = chars.count
        historyIndex = nil
    }

    public mutating func clear() { setText("") }

    /// Records a submitted entry (consecutive duplicates and blanks are not kept).
    public mutating func remember(_ entry: String) {
        historyIndex = nil
        guard !entry.allSatisfy(\.isWhitespace), history.last != entry else { return }
        history.append(entry)
        if history.count > 500 { history.removeFirst(history.count - 500) }
    }

    /// Inserts text at the cursor. Re-clusters so a combining mark joins the character before it.
    public mutating func insert(_ text: String) {
        guard !text.isEmpty else { return }
        let before = String(chars[0..<cursor]) + text
        let after = chars[cursor...]
        let merged = Array(before + String(after))
        cursor = Array(before).count
        chars = merged
        cursor = min(cursor, chars.count)
    }

    /// Applies an editing key; false if the key means nothing to the editor (the caller handles it).
    @discardableResult
    public mutating func handle(_ key: Key) -> Bool {
        switch key {
        case let .char(c): insert(String(c))
        case let .paste(text): insert(Sanitizer.clean(text))   // CR LF to LF, tabs to spaces, no escapes
        case .ctrl("j"), .altEnter: insert("\n")
        case .left, .ctrl("b"): cursor = max(0, cursor - 1)
        case .right, .ctrl("f"): cursor = min(chars.count, cursor + 1)
        case .home, .ctrl("a"): cursor = lineStart(cursor)
        case .end, .ctrl("e"): cursor = lineEnd(cursor)
        case .alt("b"), .ctrlLeft: cursor = wordLeft(cursor)
        case .alt("f"), .ctrlRight: cursor = wordRight(cursor)
        case .backspace, .ctrl("h"):
            if cursor > 0 { chars.remove(at: cursor - 1); cursor -= 1 }
        case .delete, .ctrl("d"):
            if cursor < chars.count { chars.remove(at: cursor) }
        case .ctrl("k"):
            let end = lineEnd(cursor)
            // At the end of a line, C-k joins the next line (kills the newline), as in Emacs.
            kill(cursor, end == cursor && end < chars.count ? end + 1 : end)
        case .ctrl("u"): kill(lineStart(cursor), cursor)
        case .ctrl("w"), .altBackspace: kill(wordLeft(cursor), cursor)
        case .alt("d"): kill(cursor, wordRight(cursor))
        case .ctrl("y"): insert(String(killed))
        case .ctrl("t"):
            guard cursor > 0, chars.count >= 2 else { return true }
            let i = cursor == chars.count ? cursor - 1 : cursor
            chars.swapAt(i - 1, i)
            cursor = min(chars.count, i + 1)
        case .up:
            if lineStart(cursor) > 0 { moveVertically(-1) } else { historyPrevious() }
        case .down:
            if lineEnd(cursor) < chars.count { moveVertically(1) } else { historyNext() }
        case .ctrl("p"): historyPrevious()
        case .ctrl("n"): historyNext()
        default: return false
        }
        return true
    }

    private mutating func kill(_ from: Int, _ to: Int) {
        guard from < to else { return }
        killed = Array(chars[from..<to])
        chars.removeSubrange(from..<to)
        cursor = from
    }

    private func lineStart(_ i: Int) -> Int {
        var j = i
        while j > 0, chars[j - 1] != "\n" { j -= 1 }
        return j
    }

    private func lineEnd(_ i: Int) -> Int {
        var j = i
        while j < chars.count, chars[j] != "\n" { j += 1 }
        return j
    }

    private func isWord(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }

    private func wordLeft(_ i: Int) -> Int {
        var j = i
        while j > 0, !isWord(chars[j - 1]) { j -= 1 }
        while j > 0, isWord(chars[j - 1]) { j -= 1 }
        return j
    }

    private func wordRight(_ i: Int) -> Int {
        var j = i
        while j < chars.count, !isWord(chars[j]) { j += 1 }
        while j < chars.count, isWord(chars[j]) { j += 1 }
        return j
    }

    private mutating func moveVertically(_ delta: Int) {
        let column = cursor - lineStart(cursor)
        if delta < 0 {
            let prevEnd = lineStart(cursor) - 1
            let prevStart = lineStart(prevEnd)
            cursor = min(prevStart + column, prevEnd)
        } else {
            let nextStart = lineEnd(cursor) + 1
            cursor = min(nextStart + column, lineEnd(nextStart))
        }
    }

    private mutating func historyPrevious() {
        guard !history.isEmpty else { return }
        if let i = historyIndex {
            guard i > 0 else { return }
            historyIndex = i - 1
        } else {
            draft = chars
            historyIndex = history.count - 1
        }
        chars = Array(history[historyIndex ?? 0])
        cursor = chars.count
    }

    private mutating func historyNext() {
        guard let i = historyIndex else { return }
        if i + 1 < history.count {
            historyIndex = i + 1
            chars = Array(history[i + 1])
        } else {
            historyIndex = nil
            chars = draft
        }
        cursor = chars.count
    }

    /// The editor's text wrapped to `width` columns, with the cursor's row and column in that layout.
    public func layout(width: Int) -> (lines: [String], cursorRow: Int, cursorColumn: Int) {
        let wrapped = TextWrap.lines(chars, width: max(1, width - 1))   // keep a column for the cursor
        var row = wrapped.count - 1
        for (r, line) in wrapped.enumerated() where cursor >= line.start && cursor <= line.end {
            row = r
            break
        }
        let line = wrapped[row]
        let column = CharWidth.of(String(chars[line.start..<min(cursor, line.end)]))
        return (wrapped.map { String(chars[$0.start..<$0.end]) }, row, column)
    }
}
