/// A key press (or a paste) decoded from the terminal's input bytes.
public enum Key: Hashable, Sendable {
    /// A printable character.
    case char(Character)
    /// Control plus a letter, as its lowercase letter ("a" ... "z"), and Ctrl-Space as " ".
    case ctrl(Character)
    /// Alt (Meta) plus a printable character.
    case alt(Character)
    case enter, altEnter, tab, backTab, backspace, altBackspace, delete, escape, insert
    case up, down, left, right, home, end, pageUp, pageDown
    case ctrlLeft, ctrlRight, ctrlUp, ctrlDown
    case f(Int)
    /// Text pasted with bracketed paste mode on (never interpreted as keys).
    case paste(String)

    /// A short human name for key maps and help ("C-c", "M-Enter", "F1", "PgUp").
    public var name: String {
        switch self {
        case let .char(c): c == " " ? "Space" : String(c)
        case let .ctrl(c): c == " " ? "C-Space" : "C-\(c)"
        case let .alt(c): "M-\(c)"
        case .enter: "Enter"
        case .altEnter: "M-Enter"
        case .tab: "Tab"
        case .backTab: "S-Tab"
        case .backspace: "Backspace"
        case .altBackspace: "M-Backspace"
        case .delete: "Del"
        case .escape: "Esc"
        case .insert: "Ins"
        case .up: "Up"
        case .down: "Down"
        case .left: "Left"
        case .right: "Right"
        case .home: "Home"
        case .end: "End"
        case .pageUp: "PgUp"
        case .pageDown: "PgDn"
        case .ctrlLeft: "C-Left"
        case .ctrlRight: "C-Right"
        case .ctrlUp: "C-Up"
        case .ctrlDown: "C-Down"
        case let .f(n): "F\(n)"
        case .paste: "paste"
        }
    }
}

/// What a driver delivers to the UI loop.
public enum InputEvent: Hashable, Sendable {
    case key(Key)
    /// The terminal changed size (SIGWINCH).
    case resize(Size)
    /// SIGTERM, SIGHUP or SIGINT arrived: leave in order.
    case terminate
}
