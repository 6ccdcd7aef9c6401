/// A terminal colour: the terminal's default, one of the 16 ANSI colours or a 256-colour index, or a
/// 24-bit colour (image previews). Drivers map `rgb` to the nearest palette entry where the terminal has
/// no direct colour (see `Palette`).
public enum Color: Hashable, Sendable {
    case `default`
    case index(UInt8)
    case rgb(UInt8, UInt8, UInt8)

    public static let black = Color.index(0), red = Color.index(1), green = Color.index(2)
    public static let yellow = Color.index(3), blue = Color.index(4), magenta = Color.index(5)
    public static let cyan = Color.index(6), white = Color.index(7)
}

public struct Attributes: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let bold = Attributes(rawValue: 1)
    public static let dim = Attributes(rawValue: 2)
    public static let underline = Attributes(rawValue: 4)
    public static let reverse = Attributes(rawValue: 8)
    public static let italic = Attributes(rawValue: 16)
}

public struct Style: Hashable, Sendable {
    public var fg: Color
    public var bg: Color
    public var attributes: Attributes
    public init(fg: Color = .default, bg: Color = .default, _ attributes: Attributes = []) {
        self.fg = fg
        self.bg = bg
        self.attributes = attributes
    }
    public static let plain = Style()
}

/// One screen cell. A wide character occupies its cell and the next, whose `text` is empty.
public struct Cell: Hashable, Sendable {
    public var text: String
    public var style: Style
    public init(_ text: String = " ", _ style: Style = .plain) {
        self.text = text
        self.style = style
    }
    public var isContinuation: Bool { text.isEmpty }
}

public struct Point: Hashable, Sendable {
    public var x: Int, y: Int
    public init(x: Int, y: Int) { self.x = x; self.y = y }
}

public struct Size: Hashable, Sendable {
    public var width: Int, height: Int
    public init(width: Int, height: Int) { self.width = width; self.height = height }
}

/// A grid of cells with a dirty flag per row: a driver redraws only the rows that changed since it last
/// presented the canvas.
public struct Canvas: Sendable, Equatable {
    public private(set) var size: Size
    public private(set) var cells: [Cell]
    public private(set) var dirty: [Bool]

    public init(size: Size) {
        let s = Size(width: max(0, size.width), height: max(0, size.height))
        self.size = s
        cells = Array(repeating: Cell(), count: s.width * s.height)
        dirty = Array(repeating: true, count: s.height)
    }

    public var width: Int { size.width }
    public var height: Int { size.height }
    public var bounds: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
    }

    mutating func set(_ x: Int, _ y: Int, _ cell: Cell) {
        let i = y * width + x
        if cells[i] != cell {
            cells[i] = cell
            dirty[y] = true
        }
    }

    /// Fills a rectangle (clipped to the canvas) with blanks of `style`.
    public mutating func fill(_ rect: Rect, style: Style = .plain) {
        let r = rect.intersection(bounds)
        guard !r.isEmpty else { return }
        for y in r.y..<r.maxY {
            for x in r.x..<r.maxX { set(x, y, Cell(" ", style)) }
            repairEdges(y: y, from: r.x, to: r.maxX)
        }
    }

    /// Writes `text` at (x, y) without wrapping, stopping at `maxX` (exclusive; default: the right edge).
    /// Control characters are not drawn (sanitise first; see `Sanitizer`). A wide character that would
    /// straddle the limit is replaced by a blank. Returns the column after the last one written.
    @discardableResult
    public mutating func put(_ text: some StringProtocol, x: Int, y: Int, style: Style = .plain, maxX: Int? = nil) -> Int {
        guard y >= 0, y < height else { return x }
        let limit = min(maxX ?? width, width)
        var col = x
        let start = x
        for ch in text {
            let w = CharWidth.of(ch)
            if w == 0 { continue }
            if col + w > limit {
                if col < limit, col >= 0 { set(col, y, Cell(" ", style)); col += 1 }
                break
            }
            if col >= 0 {
                set(col, y, Cell(String(ch), style))
                if w == 2 { set(col + 1, y, Cell("", style)) }
            }
            col += w
        }
        repairEdges(y: y, from: max(0, start), to: min(col, width))
        return col
    }

    /// Blanks the halves of wide characters cut by a write to [from, to) on row y.
    private mutating func repairEdges(y: Int, from: Int, to: Int) {
        if from > 0, from < width, !self[from, y].isContinuation, CharWidth.of(self[from - 1, y].text) == 2 {
            // The wide character left of the write lost its right half.
            set(from - 1, y, Cell(" ", self[from - 1, y].style))
        }
        if from >= 0, from < width, self[from, y].isContinuation {
            set(from, y, Cell(" ", self[from, y].style))
        }
        if to < width, to > 0, self[to, y].isContinuation {
            set(to, y, Cell(" ", self[to, y].style))
        }
    }

    /// Replaces the content by `next` (same size), marking the rows that differ as dirty.
    public mutating func adopt(_ next: Canvas) {
        if next.size != size {
            self = next
            dirty = Array(repeating: true, count: height)
            return
        }
        for y in 0..<height {
            let range = (y * width)..<((y + 1) * width)
            if cells[range] != next.cells[range] {
                cells.replaceSubrange(range, with: next.cells[range])
                dirty[y] = true
            }
        }
    }

    public mutating func markClean() { dirty = Array(repeating: false, count: height) }
    public mutating func markAllDirty() { dirty = Array(repeating: true, count: height) }

    /// The text of row y, wide characters once, trailing blanks kept.
    public func rowText(_ y: Int) -> String {
        var s = ""
        for x in 0..<width where !self[x, y].isContinuation { s += self[x, y].text }
        return s
    }

    /// The whole canvas as text, one line per row, trailing blanks trimmed: for snapshot tests.
    public func text() -> String {
        (0..<height).map { y in
            var line = rowText(y)
            while line.last == " " { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }
}
