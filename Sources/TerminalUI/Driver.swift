/// Wakes a driver blocked waiting for input, from any thread (events from a generation task).
public struct Waker: Sendable {
    private let action: @Sendable () -> Void
    public init(_ action: @escaping @Sendable () -> Void) { self.action = action }
    public func wake() { action() }
}

/// A terminal: somewhere to present canvases and something to read keys from. All calls but
/// `waker.wake()` come from the one UI loop thread.
public protocol Driver: AnyObject {
    var size: Size { get }
    /// Draws the canvas's dirty rows and places the cursor (nil hides it), then marks the canvas clean.
    func present(_ canvas: inout Canvas, cursor: Point?)
    /// Input that arrived within `timeoutMilliseconds` (empty on timeout or when woken).
    func readInput(timeoutMilliseconds: Int) -> [InputEvent]
    var waker: Waker { get }
    /// Forget what is on the screen: the next `present` repaints everything (Ctrl-L).
    func invalidate()
}

extension Driver {
    public func invalidate() {}
}

/// A driver without a terminal, for tests: input is scripted, every presented frame is kept.
public final class HeadlessDriver: Driver {
    public var size: Size
    public var pendingInput: [InputEvent]
    public private(set) var screen: Canvas
    public private(set) var frames: [String] = []
    public private(set) var cursor: Point? = nil
    /// Rows redrawn by each `present` call (to check that unchanged rows are not redrawn).
    public private(set) var redrawnRows: [[Int]] = []
    public let waker = Waker {}

    public init(size: Size, input: [InputEvent] = []) {
        self.size = size
        pendingInput = input
        screen = Canvas(size: size)
    }

    public func present(_ canvas: inout Canvas, cursor: Point?) {
        if screen.size != canvas.size { screen = Canvas(size: canvas.size) }
        var rows: [Int] = []
        for y in 0..<canvas.height where canvas.dirty[y] { rows.append(y) }
        screen.adopt(canvas)
        screen.markClean()
        canvas.markClean()
        redrawnRows.append(rows)
        self.cursor = cursor
        frames.append(screen.text())
    }

    /// Hands out one scripted event per call, so each is followed by a redraw as at a real terminal.
    public func readInput(timeoutMilliseconds: Int) -> [InputEvent] {
        guard !pendingInput.isEmpty else { return [] }
        let event = pendingInput.removeFirst()
        if case let .resize(s) = event { size = s }
        return [event]
    }
}
