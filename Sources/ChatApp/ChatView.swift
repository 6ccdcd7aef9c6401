import Foundation
import Sampling
import TerminalUI

/// A rendered screen: the canvas, where the cursor goes, and how far the transcript can scroll.
public struct Frame: Sendable {
    public var canvas: Canvas
    public var cursor: Point?
    public var maxScrollBack: Int
    /// Rows the transcript had (the page for PgUp/PgDn).
    public var transcriptHeight: Int = 10
}

/// Draws the whole chat screen from state. Pure: same state and size, same frame.
public enum ChatView {
    public static let minimumSize = Size(width: 40, height: 12)
    static let maxInputRows = 6

    public static func render(_ state: ChatState, size: Size, theme: Theme) -> Frame {
        var canvas = Canvas(size: size)
        canvas.fill(canvas.bounds, style: theme[.background])
        guard size.width >= minimumSize.width, size.height >= minimumSize.height else {
            drawTooSmall(&canvas, theme: theme)
            return Frame(canvas: canvas, cursor: nil, maxScrollBack: 0)
        }
        let (above, statusRect) = canvas.bounds.splitBottom(1)
        let editorLayout = state.editor.layout(width: size.width - 2)
        // The input grows with its text, up to a third of the screen.
        let inputRows = min(maxInputRows, size.height / 3, max(1, editorLayout.lines.count))
        let (rest, inputRect) = above.splitBottom(inputRows + 1)
        // The attachments strip (images going with the next message) sits above the input.
        let (transcriptRect, stripRect) = rest.splitBottom(AttachmentView.height(state, size: size))

        let maxScroll = drawTranscript(&canvas, state, transcriptRect, theme: theme)
        let cursor = drawInput(&canvas, state, inputRect, layout: editorLayout, theme: theme)
        AttachmentView.draw(&canvas, state, stripRect, theme: theme)
        drawStatus(&canvas, state, statusRect, theme: theme)
        switch state.overlay {
        case .none: break
        case let .help(offset): HelpView.draw(&canvas, in: transcriptRect, offset: offset, theme: theme)
        case let .sampling(selected): drawSamplingPanel(&canvas, state, selected: selected, in: transcriptRect, theme: theme)
        case let .sessions(selected): drawSessions(&canvas, state, selected: selected, in: transcriptRect, theme: theme)
        }
        return Frame(canvas: canvas, cursor: state.overlay == .none ? cursor : nil, maxScrollBack: maxScroll,
                     transcriptHeight: transcriptRect.height)
    }

    static func drawTooSmall(_ canvas: inout Canvas, theme: Theme) {
        let lines = ["Terminal too small", "need \(minimumSize.width)x\(minimumSize.height),",
                     "have \(canvas.width)x\(canvas.height)"]
        let top = max(0, (canvas.height - lines.count) / 2)
        for (i, l) in lines.enumerated() {
            let x = max(0, (canvas.width - CharWidth.of(l)) / 2)
            canvas.put(l, x: x, y: top + i, style: i == 0 ? theme[.errorText] : theme[.systemText])
        }
    }

    /// Returns the largest useful scroll-back.
    static func drawTranscript(_ canvas: inout Canvas, _ state: ChatState, _ rect: Rect, theme: Theme) -> Int {
        // One more row than needed, so that a trailing blank line can be dropped.
        var (lines, complete) = TranscriptView.lines(state, width: rect.width - 1, needed: rect.height + state.scrollBack + 1)
        while lines.last == Line() { lines.removeLast() }
        // When older messages were not laid out, more scrolling is possible than these lines show.
        let maxScroll = complete ? max(0, lines.count - rect.height) : max(state.scrollBack, lines.count - rect.height)
        let back = min(state.scrollBack, maxScroll)
        let first = max(0, lines.count - rect.height - back)
        for (row, line) in lines[first..<min(lines.count, first + rect.height)].enumerated() {
            for span in line.spans {
                canvas.put(span.text, x: rect.x + span.x, y: rect.y + row, style: span.style ?? theme[span.element], maxX: rect.maxX)
            }
        }
        if back > 0 {
            let tag = " ↑ \(back) more below (PgDn) "
            canvas.put(tag, x: max(rect.x, rect.maxX - CharWidth.of(tag)), y: rect.maxY - 1, style: theme[.notice])
        }
        return maxScroll
    }

    static func drawInput(_ canvas: inout Canvas, _ state: ChatState,
                          _ rect: Rect, layout: (lines: [String], cursorRow: Int, cursorColumn: Int), theme: Theme) -> Point {
        let (borderRect, editRect) = rect.splitTop(1)
        canvas.put(String(repeating: "─", count: borderRect.width), x: borderRect.x, y: borderRect.y, style: theme[.inputBorder])
        let hint: String
        let hintStyle: Style
        if let notice = state.notice {
            hint = " " + Sanitizer.clean(notice, singleLine: true) + " "
            hintStyle = theme[.notice]
        } else if !state.pendingImages.isEmpty {
            let n = state.pendingImages.count
            hint = " Enter sends \(n == 1 ? "the image" : "\(n) images") · M-x detaches · F1 help "
            hintStyle = theme[.inputBorder]
        } else if state.editingIndex != nil {
            hint = " editing: Enter resends, Esc cancels "
            hintStyle = theme[.notice]
        } else {
            hint = borderRect.width >= 50 ? " Enter send · M-Enter newline · F1 help " : " Enter send · F1 help "
            hintStyle = theme[.inputBorder]
        }
        canvas.put(hint, x: borderRect.x + 1, y: borderRect.y, style: hintStyle, maxX: borderRect.maxX - 1)
        // Keep the cursor's row visible when the message is taller than the box.
        let top = max(0, layout.cursorRow - editRect.height + 1)
        for row in 0..<editRect.height {
            let i = top + row
            let prompt = i == 0 ? "> " : "  "
            canvas.put(prompt, x: editRect.x, y: editRect.y + row, style: theme[.inputPrompt])
            if i < layout.lines.count {
                canvas.put(Sanitizer.clean(layout.lines[i], singleLine: true), x: editRect.x + 2, y: editRect.y + row,
                           style: theme[.inputText], maxX: editRect.maxX)
            }
        }
        return Point(x: editRect.x + 2 + layout.cursorColumn, y: editRect.y + layout.cursorRow - top)
    }

    /// The temperature setting, the dynamic temperature mode, and (when they differ) the temperature
    /// the latest token was actually sampled at, e.g. "T 0.80 dyn±0.30 →1.02".
    static func temperatureText(_ state: ChatState) -> String {
        let s = state.settings
        var temp = String(format: "T %.2f", s.temperature)
        switch DynatempMode(s) {
        case .off: break
        case .entropy: temp += String(format: " dyn±%.2f", s.dynatempRange)
        case .head: temp += String(format: " head %.2f×%d", s.headTemp ?? 0, s.headTokens)
        case .both: temp += String(format: " head+dyn±%.2f", s.dynatempRange)
        }
        if let i = state.lastAssistantIndex, let last = state.messages[i].temperatures.last,
           abs(last - s.temperature) > 0.005 {
            temp += String(format: " →%.2f", last)
        }
        return temp
    }

    /// The status line's left part, as detailed as `width` allows: the temperature and context are
    /// kept longest, the family and seed go first.
    static func statusText(_ state: ChatState, width: Int) -> String {
        let s = state.settings
        let name = Sanitizer.clean(state.info.name, singleLine: true)
        let ctx = "\(state.contextUsed)/\(state.info.contextLength)"
        let tps = String(format: "%.1f tok/s", state.tokensPerSecond)
        let temp = temperatureText(state)
        let variants: [[String]] = [
            ["\(name) (\(state.info.family))", "ctx \(ctx)", tps, temp, "seed \(s.seed)"],
            [name, "ctx \(ctx)", tps, temp, "seed \(s.seed)"],
            [name, "ctx \(ctx)", tps, temp],
            [name, ctx, String(format: "%.1f t/s", state.tokensPerSecond), temp],
            [name, ctx, temp],
            [ctx, temp],
        ]
        for v in variants {
            let text = " " + v.joined(separator: " │ ")
            if CharWidth.of(text) <= width { return text }
        }
        return " " + temp
    }

    static func modeText(_ state: ChatState) -> String {
        switch state.mode {
        case .generating: " ● writing "
        case .confirmQuit: " quit? "
        case .idle: " ready "
        }
    }

    static func drawStatus(_ canvas: inout Canvas, _ state: ChatState, _ rect: Rect, theme: Theme) {
        canvas.fill(rect, style: theme[.statusBar])
        let right = modeText(state)
        let rightX = rect.maxX - CharWidth.of(right)
        let left = statusText(state, width: rightX - rect.x - 1)
        canvas.put(left, x: rect.x, y: rect.y, style: theme[.statusBar], maxX: rightX)
        canvas.put(right, x: rightX, y: rect.y, style: theme[.statusAccent])
    }

    // MARK: - Boxes

    static func drawBox(_ canvas: inout Canvas, _ r: Rect, title: String, theme: Theme) {
        guard r.width >= 2, r.height >= 2 else { return }
        canvas.fill(r, style: theme[.panelText])
        let b = theme[.panelBorder]
        let horizontal = String(repeating: "─", count: r.width - 2)
        canvas.put("┌" + horizontal + "┐", x: r.x, y: r.y, style: b)
        canvas.put("└" + horizontal + "┘", x: r.x, y: r.maxY - 1, style: b)
        for y in (r.y + 1)..<(r.maxY - 1) {
            canvas.put("│", x: r.x, y: y, style: b)
            canvas.put("│", x: r.maxX - 1, y: y, style: b)
        }
        canvas.put(" \(title) ", x: r.x + 2, y: r.y, style: theme[.panelTitle], maxX: r.maxX - 1)
    }

    static func drawSamplingPanel(_ canvas: inout Canvas, _ state: ChatState, selected: Int, in area: Rect, theme: Theme) {
        let rows = SamplingPanel.rows
        let width = min(area.width, 36)
        let height = min(area.height, rows.count + 3)
        let box = Rect(x: area.maxX - width, y: area.y, width: width, height: height)
        drawBox(&canvas, box, title: "Sampling (←/→ change)", theme: theme)
        let visible = max(1, height - 3)
        let first = min(max(0, selected - visible / 2), max(0, rows.count - visible))
        for (row, i) in (first..<min(rows.count, first + visible)).enumerated() {
            let y = box.y + 1 + row
            let style = i == selected ? theme[.panelSelected] : theme[.panelText]
            canvas.fill(Rect(x: box.x + 1, y: y, width: box.width - 2, height: 1), style: style)
            canvas.put(rows[i].rawValue, x: box.x + 2, y: y, style: style, maxX: box.maxX - 1)
            let value = SamplingPanel.value(rows[i], state)
            canvas.put(value, x: max(box.x + 2, box.maxX - 2 - CharWidth.of(value)), y: y, style: style, maxX: box.maxX - 1)
        }
        canvas.put("Enter: type a value", x: box.x + 2, y: box.maxY - 2, style: theme[.systemText], maxX: box.maxX - 1)
    }

    static func drawSessions(_ canvas: inout Canvas, _ state: ChatState, selected: Int, in area: Rect, theme: Theme) {
        let box = area.centered(width: min(area.width, 70), height: min(area.height, state.sessionList.count + 2 + 1))
        drawBox(&canvas, box, title: "Sessions (Enter resumes, Esc closes)", theme: theme)
        if state.sessionList.isEmpty {
            canvas.put("no saved sessions", x: box.x + 2, y: box.y + 1, style: theme[.systemText], maxX: box.maxX - 1)
            return
        }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd HH:mm"
        let visible = max(1, box.height - 2)
        let first = min(max(0, selected - visible / 2), max(0, state.sessionList.count - visible))
        for (row, i) in (first..<min(state.sessionList.count, first + visible)).enumerated() {
            let s = state.sessionList[i]
            let y = box.y + 1 + row
            let style = i == selected ? theme[.panelSelected] : theme[.panelText]
            canvas.fill(Rect(x: box.x + 1, y: y, width: box.width - 2, height: 1), style: style)
            canvas.put("\(f.string(from: s.updated))  \(s.messageCount) msg  \(s.title)", x: box.x + 2, y: y, style: style, maxX: box.maxX - 1)
        }
    }
}

/// The key map, drawn from `KeyMap.bindings` and `Commands.help`.
enum HelpView {
    static func entries() -> [(String, String)] {
        KeyMap.bindings.map { b in (b.keys.map(\.name).joined(separator: " "), b.help) }
            + KeyMap.editingHelp + Commands.help
    }

    static func draw(_ canvas: inout Canvas, in area: Rect, offset: Int, theme: Theme) {
        let items = entries()
        let keyWidth = min(26, items.map { CharWidth.of($0.0) }.max() ?? 10, max(8, area.width / 3))
        let helpWidth = items.map { CharWidth.of($0.1) }.max() ?? 20
        let box = area.centered(width: min(area.width, keyWidth + helpWidth + 5), height: min(area.height, items.count + 2))
        let visible = max(0, box.height - 2)
        let first = min(offset, max(0, items.count - visible))
        let more = items.count > visible ? " \(first + 1)-\(first + visible)/\(items.count), ↑↓" : ""
        ChatView.drawBox(&canvas, box, title: "Keys and commands\(more) (any key closes)", theme: theme)
        for (row, (k, h)) in items[first..<min(items.count, first + visible)].enumerated() {
            let y = box.y + 1 + row
            canvas.put(k, x: box.x + 2, y: y, style: theme[.helpKey], maxX: box.x + 2 + keyWidth)
            canvas.put(h, x: box.x + 3 + keyWidth, y: y, style: theme[.helpText], maxX: box.maxX - 1)
        }
    }
}
