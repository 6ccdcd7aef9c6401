import CNcurses
import Foundation
import TerminalUI

public enum CursesError: Error, CustomStringConvertible {
    case notATerminal
    case initFailed(String)

    public var description: String {
        switch self {
        case .notATerminal: "squint chat needs a terminal on stdin and stdout"
        case let .initFailed(why): "cannot start the terminal UI: \(why)"
        }
    }
}

/// The Driver over ncursesw. Curses only draws; keys are read as raw bytes from stdin and decoded by
/// `KeyDecoder` (one decoder for every terminal, bracketed paste included, and testable without one).
/// Input waits use poll(2) on stdin plus a wake pipe, so generation events and SIGWINCH interrupt it.
public final class CursesDriver: Driver {
    public private(set) var size: Size
    public let waker: Waker
    private var decoder = KeyDecoder()
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private var pairs: [Style: Int32] = [:]
    private let colors: Int
    private let useColor: Bool
    private var stderrCapture: StderrCapture?
    private var signalSources: [DispatchSourceSignal] = []
    private let resized = Flag()
    private let terminate = Flag()
    private var active = true
    /// How long a lone ESC waits for the rest of a sequence (curses' ESCDELAY).
    private let escapeDelayMilliseconds: Int32 = 25

    /// Takes over the terminal. `color: false` draws attributes only (NO_COLOR).
    public init(color: Bool = true) throws {
        guard isatty(0) == 1, isatty(1) == 1 else { throw CursesError.notATerminal }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw CursesError.initFailed("pipe: \(String(cString: strerror(errno)))") }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        let w = fds[1]
        waker = Waker { var b: UInt8 = 1; _ = write(w, &b, 1) }

        _ = sq_setup_locale()
        guard sq_terminal_known() == 1 else {
            close(fds[0]); close(fds[1])
            let term = ProcessInfo.processInfo.environment["TERM"] ?? "(unset)"
            throw CursesError.initFailed("the terminal type TERM=\(term) is not in the terminfo database; try TERM=xterm-256color")
        }
        stderrCapture = StderrCapture()
        if let c = stderrCapture { sq_set_stderr_fds(c.saved, c.capture) }
        sq_install_fatal_handlers()
        guard initscr() != nil else {
            _ = stderrCapture?.restore()
            throw CursesError.initFailed("initscr failed (is TERM set?)")
        }
        sq_set_curses_active(1)
        raw()
        noecho()
        nonl()
        _ = curs_set(1)
        if color, has_colors() {
            start_color()
            use_default_colors()
            useColor = true
            colors = Int(sq_colors())
        } else {
            useColor = false
            colors = 0
        }
        size = Size(width: Int(sq_cols()), height: Int(sq_lines()))
        writeRaw("\u{1B}[?2004h")   // bracketed paste on
        installSignalSources()
    }

    deinit { shutdown() }

    /// Gives the terminal back (idempotent); returns what was written to stderr meanwhile.
    @discardableResult
    public func shutdown() -> Data {
        guard active else { return Data() }
        active = false
        for s in signalSources { s.cancel() }
        for sig in [SIGWINCH, SIGTERM, SIGHUP, SIGINT] { signal(sig, SIG_DFL) }
        writeRaw("\u{1B}[?2004l")
        endwin()
        sq_set_curses_active(0)
        let captured = stderrCapture?.restore() ?? Data()
        stderrCapture = nil
        sq_set_stderr_fds(-1, -1)
        close(wakeRead)
        close(wakeWrite)
        return captured
    }

    private func writeRaw(_ s: String) {
        fflush(nil)
        let bytes = Array(s.utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress!, bytes.count) }
    }

    private func installSignalSources() {
        let waker = self.waker
        let resized = self.resized, terminate = self.terminate
        for sig in [SIGWINCH, SIGTERM, SIGHUP, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                if sig == SIGWINCH { resized.set() } else { terminate.set() }
                waker.wake()
            }
            source.resume()
            signalSources.append(source)
        }
    }

    // MARK: Input

    public func readInput(timeoutMilliseconds: Int) -> [InputEvent] {
        var events: [InputEvent] = []
        if resized.take() { events.append(handleResize()) }
        var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        let timeout = decoder.hasPending ? escapeDelayMilliseconds : Int32(clamping: timeoutMilliseconds)
        let n = poll(&fds, 2, events.isEmpty ? timeout : 0)
        if n > 0, fds[1].revents & Int16(POLLIN) != 0 {
            var sink = [UInt8](repeating: 0, count: 64)
            while read(wakeRead, &sink, 64) > 0 {}
        }
        if n > 0, fds[0].revents & Int16(POLLIN) != 0 {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let got = read(0, &buffer, 4096)
            if got > 0 { events += decoder.feed(buffer[0..<got]).map { .key($0) } }
        } else if n == 0, decoder.hasPending {
            events += decoder.flush().map { .key($0) }
        }
        if resized.take() { events.append(handleResize()) }
        if terminate.take() { events.append(.terminate) }
        return events
    }

    private func handleResize() -> InputEvent {
        var rows: Int32 = 0, cols: Int32 = 0
        if sq_winsize(1, &rows, &cols) == 0 { _ = resizeterm(rows, cols) }
        size = Size(width: Int(sq_cols()), height: Int(sq_lines()))
        pairs.removeAll()
        return .resize(size)
    }

    // MARK: Output

    public func present(_ canvas: inout Canvas, cursor: Point?) {
        if canvas.size != size {
            canvas.markAllDirty()
        }
        // Previews use many colour pairs: when most are spent, start over and repaint everything, so
        // no cell keeps a pair number that is given a new meaning.
        if useColor, pairs.count > Int(pairLimit) * 3 / 4 {
            pairs.removeAll()
            canvas.markAllDirty()
        }
        let height = min(canvas.height, size.height), width = min(canvas.width, size.width)
        for y in 0..<height where canvas.dirty[y] {
            for x in 0..<width {
                let cell = canvas[x, y]
                if cell.isContinuation { continue }
                var scalars = cell.text.unicodeScalars.map { wchar_t(bitPattern: $0.value) }
                if scalars.isEmpty { scalars = [32] }
                let (flags, pair) = attributes(cell.style)
                _ = sq_put_cell(Int32(y), Int32(x), scalars, Int32(scalars.count), flags, pair)
            }
        }
        canvas.markClean()
        if let c = cursor, c.x < size.width, c.y < size.height {
            _ = curs_set(1)
            wmove(sq_stdscr(), Int32(c.y), Int32(c.x))
        } else {
            _ = curs_set(0)
        }
        wnoutrefresh(sq_stdscr())
        doupdate()
    }

    /// Full repaint (Ctrl-L): curses forgets what it thinks is on the screen.
    public func invalidate() { clearok(sq_stdscr(), true) }

    /// Whether colour numbers are 24-bit values (a direct-colour terminfo entry such as xterm-direct).
    private var directColor: Bool { colors >= 1 << 24 }

    /// What the terminal can show, for callers that pick a rendering (image previews).
    public var colorCapability: ColorCapability {
        guard useColor else { return .none }
        return directColor ? .direct : colors >= 256 ? .palette256 : .palette16
    }

    /// A colour as this terminal's colour number (-1: the default).
    private func code(_ c: TerminalUI.Color) -> Int32 {
        switch c {
        case .default: return -1
        case let .index(i):
            // Direct colour: numbers below 8 are still the ANSI colours; others are RGB values.
            guard directColor, i >= 8 else { return Int32(i) }
            let (r, g, b) = Palette.rgb(ofIndex: i)
            return Self.packed(r, g, b)
        case let .rgb(r, g, b):
            if directColor { return Self.packed(r, g, b) }
            if colors >= 256 { return Int32(Palette.index256(r, g, b)) }
            return Int32(Palette.index16(r, g, b, count: colors))
        }
    }

    /// 0xRRGGBB; values below 8 would mean ANSI colours 0-7, so near-black moves to (0, 0, 8).
    private static func packed(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Int32 {
        max(8, Int32(r) << 16 | Int32(g) << 8 | Int32(b))
    }

    private func attributes(_ style: Style) -> (UInt32, Int32) {
        var flags = UInt32(style.attributes.rawValue)
        guard useColor else { return (flags, 0) }
        var s = style
        // Bright colours on an 8-colour terminal: the base colour, bold.
        if colors < 16, case let .index(i) = s.fg, i >= 8, i < 16 { s.fg = .index(i - 8); flags |= 1 }
        if colors < 16, case let .index(i) = s.bg, i >= 8 { s.bg = .index(i % 8) }
        if colors < 256, case let .index(i) = s.fg, i >= 16 { s.fg = .index(7) }
        if colors < 256, case let .index(i) = s.bg, i >= 16 { s.bg = .default }
        let key = Style(fg: s.fg, bg: s.bg)
        if key == Style() { return (flags, 0) }
        if let p = pairs[key] { return (flags, p) }
        let next = Int32(pairs.count + 1)
        guard next < pairLimit else { return (flags, 0) }
        guard sq_init_pair(next, code(s.fg), code(s.bg)) != sq_err() else { return (flags, 0) }
        pairs[key] = next
        return (flags, next)
    }

    /// Pairs this driver may define (image previews use one per distinct colour couple).
    private var pairLimit: Int32 { min(sq_color_pairs(), 65_536) }
}

/// What a terminal can draw, best first.
public enum ColorCapability: Sendable, Equatable {
    case direct, palette256, palette16, none
}

/// A flag set from signal handlers' queue, taken by the loop.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
    func take() -> Bool { lock.lock(); defer { lock.unlock() }; let v = value; value = false; return v }
}
