import TerminalUI

/// What a key can mean to the chat (beyond line editing, which `LineEditor` owns).
public enum Action: String, Sendable, CaseIterable {
    case submit, interrupt, stop, quit, regenerate, editLast
    case temperatureUp, temperatureDown
    case toggleSampling, toggleTemperatures, toggleHelp, sessions
    case compare, keepCandidate, nextCandidate, previousCandidate
    case scrollUp, scrollDown, scrollLineUp, scrollLineDown, redraw
    case detachImage
}

public struct Binding: Sendable {
    public var keys: [Key]
    public var action: Action
    public var help: String
    /// Only when the input line is empty (so the key still types text otherwise).
    public var whenInputEmpty: Bool
    public init(_ keys: [Key], _ action: Action, _ help: String, whenInputEmpty: Bool = false) {
        self.keys = keys
        self.action = action
        self.help = help
        self.whenInputEmpty = whenInputEmpty
    }
}

/// The key map: the loop dispatches from it and the help screen is drawn from it, so they cannot
/// disagree (htop's Action.c habit).
public enum KeyMap {
    public static let bindings: [Binding] = [
        Binding([.enter], .submit, "send the message (or run a /command)"),
        Binding([.escape], .stop, "stop the reply being written; close a panel"),
        Binding([.ctrl("c")], .interrupt, "stop the reply; at rest, press twice to quit"),
        Binding([.ctrl("d")], .quit, "quit (on an empty line)", whenInputEmpty: true),
        Binding([.ctrl("r")], .regenerate, "write the last reply again"),
        Binding([.alt("e")], .editLast, "edit the last message and send it again"),
        Binding([.alt("="), .alt("+"), .f(8)], .temperatureUp, "temperature +0.05 (also mid-reply)"),
        Binding([.alt("-"), .f(7)], .temperatureDown, "temperature -0.05 (also mid-reply)"),
        Binding([.f(2), .alt("s")], .toggleSampling, "sampling panel (Up/Down pick, Left/Right change)"),
        Binding([.f(3), .alt("t")], .toggleTemperatures, "token temperatures: sparkline, coloured text, off"),
        Binding([.f(4), .alt("c")], .compare, "compare: write N replies to the last message"),
        Binding([.tab], .nextCandidate, "next compared reply"),
        Binding([.backTab], .previousCandidate, "previous compared reply"),
        Binding([.alt("k")], .keepCandidate, "keep the selected compared reply"),
        Binding([.f(5), .alt("l")], .sessions, "past sessions (Enter resumes)"),
        Binding([.pageUp], .scrollUp, "scroll the transcript up a page"),
        Binding([.pageDown], .scrollDown, "scroll the transcript down a page"),
        Binding([.ctrlUp], .scrollLineUp, "scroll up a line"),
        Binding([.ctrlDown], .scrollLineDown, "scroll down a line"),
        Binding([.f(1), .char("?")], .toggleHelp, "this help (? on an empty line)", whenInputEmpty: true),
        Binding([.ctrl("l")], .redraw, "redraw the screen"),
        Binding([.alt("x")], .detachImage, "detach the last image (or Backspace on an empty line)"),
    ]

    /// Editing keys, listed in the help (the editor implements them).
    public static let editingHelp: [(String, String)] = [
        ("M-Enter C-j", "new line in the message"),
        ("C-a C-e", "start / end of line"),
        ("C-b C-f M-b M-f", "character / word left and right"),
        ("C-k C-u C-w M-d", "kill to end / start / word back / word forward"),
        ("C-y", "yank the last kill"),
        ("Up Down C-p C-n", "history (Up/Down move between lines first)"),
        ("Tab (after /image)", "complete the file name"),
        ("paste or type a path", "attach the image: /a/x.jpg '~/my b.png' my\\ c.png"),
    ]

    public static func action(for key: Key, inputEmpty: Bool) -> Action? {
        for b in bindings where b.keys.contains(key) {
            // F1 works always; "?" only on an empty line (otherwise it is text).
            if b.whenInputEmpty, !inputEmpty, key != .f(1) { continue }
            return b.action
        }
        return nil
    }
}
