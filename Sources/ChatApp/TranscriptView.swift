import Foundation
import TerminalUI

/// A run of text at a column, styled by a theme element.
struct Span: Equatable {
    var x: Int
    var text: String
    var element: Element
    /// Drawn in this style instead of the element's (image previews' pixel colours).
    var style: Style? = nil
}

/// One transcript row before it is placed on the screen.
struct Line: Equatable {
    var spans: [Span] = []
    init(_ spans: [Span] = []) { self.spans = spans }
    init(x: Int, _ text: String, _ element: Element) { spans = [Span(x: x, text: text, element: element)] }
}

/// Lays the conversation out as rows for a given width.
enum TranscriptView {
    static let indent = 2
    /// Below this many columns per reply, compared replies are shown one at a time as tabs.
    static let minColumnWidth = 18

    /// The transcript's last rows: messages are laid out from the newest backwards until `needed` rows
    /// exist (so a frame costs what the screen shows, not the whole history). `complete` says whether
    /// every message was laid out.
    static func lines(_ state: ChatState, width: Int, needed: Int = .max) -> (lines: [Line], complete: Bool) {
        var blocks: [[Line]] = []
        var count = 0
        for index in state.messages.indices.reversed() {
            let block = lines(of: index, state, width: width)
            count += block.count
            blocks.append(block)
            if count >= needed, index > 0 { return (blocks.reversed().flatMap { $0 }, false) }
        }
        return (blocks.reversed().flatMap { $0 }, true)
    }

    static func lines(of index: Int, _ state: ChatState, width: Int) -> [Line] {
        var out: [Line] = []
        let body = max(1, width - indent)
        let m = state.messages[index]
        do {
            switch m.role {
            case .user:
                out.append(Line(x: 0, "You", .userLabel))
                out += AttachmentView.transcriptLines(m, state, x: indent, width: body)
                if !m.text.isEmpty || m.images.isEmpty { out += wrapped(m.text, x: indent, width: body, .userText) }
            case .assistant:
                var label = [Span(x: 0, text: Sanitizer.clean(state.info.name, singleLine: true), element: .assistantLabel)]
                let labelEnd = CharWidth.of(label[0].text)
                if m.status == .stopped {
                    label.append(Span(x: labelEnd + 1, text: "[stopped]", element: .stoppedMark))
                } else if m.status == .streaming, index == state.messages.count - 1 {
                    label.append(Span(x: labelEnd + 1, text: "…", element: .systemText))
                }
                if m.isComparison {
                    let x = CharWidth.of(label.map(\.text).joined(separator: " ")) + 1
                    let long = "· \(m.candidates.count) replies (Tab picks, M-k keeps)"
                    let text = x + CharWidth.of(long) <= width ? long : "· \(m.candidates.count) replies"
                    label.append(Span(x: x, text: text, element: .systemText))
                    out.append(Line(label))
                    out += comparison(m, selected: state.selectedCandidate, width: width, view: state.temperatureView)
                } else {
                    out.append(Line(label))
                    out += reply(m.text, temperatures: m.temperatures, ends: m.tokenEnds, x: indent, width: body,
                                 colour: state.temperatureView == .colour)
                    if state.temperatureView == .sparkline, !m.temperatures.isEmpty {
                        out += sparkline(m.temperatures, x: indent, width: body)
                    }
                }
            case .system:
                out.append(Line(x: 0, "System", .systemText))
                out += wrapped(m.text, x: indent, width: body, .systemText)
            case .error:
                out += wrapped("! " + m.text, x: 0, width: width, .errorText)
            }
            out.append(Line())
        }
        return out
    }

    static func wrapped(_ text: String, x: Int, width: Int, _ element: Element) -> [Line] {
        TextWrap.wrap(Sanitizer.clean(text), width: width).map { Line(x: x, $0, element) }
    }

    /// A reply's text, wrapped; with `colour`, each character styled by the temperature of the token
    /// it came from (followed through the sanitiser's removals by `cleanMapped`'s origins).
    static func reply(_ text: String, temperatures: [Float], ends: [Int]?, x: Int, width: Int, colour: Bool) -> [Line] {
        guard colour, let ends, !ends.isEmpty, ends.count == temperatures.count else {
            return wrapped(text, x: x, width: width, .assistantText)
        }
        let (clean, origins) = Sanitizer.cleanMapped(text)
        let chars = Array(clean)
        var bands: [Element] = []
        bands.reserveCapacity(chars.count)
        var scalar = 0
        for c in chars {
            let origin = origins[scalar]
            // The first token whose end lies past this scalar produced it (binary search).
            var lo = 0, hi = ends.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if ends[mid] > origin { hi = mid } else { lo = mid + 1 }
            }
            bands.append(band(temperatures[lo]))
            scalar += c.unicodeScalars.count
        }
        return TextWrap.lines(chars, width: width).map { line in
            var end = line.end
            while end > line.start, chars[end - 1] == " " { end -= 1 }
            var spans: [Span] = []
            var col = x
            var k = line.start
            while k < end {
                var j = k
                while j < end, bands[j] == bands[k] { j += 1 }
                let piece = String(chars[k..<j])
                spans.append(Span(x: col, text: piece, element: bands[k]))
                col += CharWidth.of(piece)
                k = j
            }
            return Line(spans)
        }
    }

    /// Temperatures as one block character per token, height by value (0 to 2) and colour by band.
    static func sparkline(_ temps: [Float], x: Int, width: Int) -> [Line] {
        let blocks = Array("▁▂▃▄▅▆▇█")
        var lines: [Line] = []
        var line = Line()
        var col = x
        for t in temps {
            if col >= x + width {
                lines.append(line)
                line = Line()
                col = x
            }
            let level = min(blocks.count - 1, max(0, Int(t / 2 * Float(blocks.count))))
            line.spans.append(Span(x: col, text: String(blocks[level]), element: band(t)))
            col += 1
        }
        lines.append(line)
        let lo = temps.min() ?? 0, hi = temps.max() ?? 0
        let caption = String(format: "temperature per token %.2f–%.2f (%d tokens)", lo, hi, temps.count)
        let short = String(format: "temp %.2f–%.2f", lo, hi)
        lines.append(Line(x: x, CharWidth.of(caption) <= width ? caption : short, .systemText))
        return lines
    }

    static func band(_ t: Float) -> Element {
        t < 0.5 ? .tempCold : t < 0.9 ? .tempMild : t < 1.3 ? .tempWarm : .tempHot
    }

    /// Columns of lines side by side, row by row.
    static func merge(_ columns: [[Line]]) -> [Line] {
        (0..<(columns.map(\.count).max() ?? 0)).map { row in
            Line(columns.flatMap { row < $0.count ? $0[row].spans : [] })
        }
    }

    static func header(_ c: CandidateReply, _ i: Int) -> String {
        var h = "\(i + 1)"
        if let t = c.requestedTemperature { h += String(format: " T%.2f", t) }
        if let f = c.finish, f != .stop { h += " (\(f == .cancelled ? "stopped" : f.rawValue))" }
        return h
    }

    static func comparison(_ m: Message, selected: Int, width: Int, view: TemperatureView) -> [Line] {
        let showTemps = view == .sparkline, colour = view == .colour
        let n = m.candidates.count
        let columns = Rect(x: 0, y: 0, width: width, height: 1).columns(n, gap: 2)
        var out: [Line] = []
        if let narrowest = columns.map(\.width).min(), narrowest >= minColumnWidth {
            // Side by side.
            var head = Line()
            var bodies: [[Line]] = []
            var sparks: [[Line]] = []
            for (i, (c, r)) in zip(m.candidates, columns).enumerated() {
                head.spans.append(Span(x: r.x, text: header(c, i), element: i == selected ? .columnSelected : .columnHeader))
                bodies.append(reply(c.text, temperatures: c.temperatures, ends: c.tokenEnds, x: r.x, width: r.width, colour: colour))
                sparks.append(showTemps && !c.temperatures.isEmpty ? Array(sparkline(c.temperatures, x: r.x, width: r.width).dropLast()) : [])
            }
            out.append(head)
            // The sparklines start on one row under the longest reply, so they line up.
            out += merge(bodies) + merge(sparks)
        } else {
            // Tabs: the selected reply at full width.
            var head = Line()
            var x = indent
            for (i, c) in m.candidates.enumerated() {
                let h = i == selected ? "[\(header(c, i))]" : " \(header(c, i)) "
                head.spans.append(Span(x: x, text: h, element: i == selected ? .columnSelected : .columnHeader))
                x += CharWidth.of(h) + 1
            }
            out.append(head)
            let c = m.candidates[min(max(0, selected), n - 1)]
            out += reply(c.text, temperatures: c.temperatures, ends: c.tokenEnds, x: indent, width: max(1, width - indent), colour: colour)
            if showTemps, !c.temperatures.isEmpty { out += sparkline(c.temperatures, x: indent, width: max(1, width - indent)) }
        }
        let d = Diversity.measure(m.candidates.map(\.text))
        let long = String(format: "distinct-1 %.2f · distinct-2 %.2f · pairwise overlap %.2f", d.distinct1, d.distinct2, d.pairwiseOverlap)
        let short = String(format: "d1 %.2f d2 %.2f overlap %.2f", d.distinct1, d.distinct2, d.pairwiseOverlap)
        out.append(Line(x: indent, indent + CharWidth.of(long) <= width ? long : short, .systemText))
        return out
    }
}
