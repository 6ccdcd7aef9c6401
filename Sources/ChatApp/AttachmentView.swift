import Foundation
import TerminalUI

/// Drawing images: the attachments strip above the input, and previews under the user's messages.
enum AttachmentView {
    /// Rows of the strip: none without attachments; half-block tiles where there is room and colour,
    /// else one row of text pills.
    static func height(_ state: ChatState, size: Size) -> Int {
        guard !state.pendingImages.isEmpty else { return 0 }
        return tiles(state, size: size) ? ImageLoader.smallCells.rows : 1
    }

    static func tiles(_ state: ChatState, size: Size) -> Bool {
        state.previewMode == .color && size.height >= 18
    }

    static func name(_ path: String, max: Int = 20) -> String {
        let n = Sanitizer.clean((path as NSString).lastPathComponent, singleLine: true)
        guard CharWidth.of(n) > max else { return n }
        return String(n.prefix(max - 1)) + "…"
    }

    static func pill(_ p: PendingImage, number: Int) -> String {
        guard let a = p.attachment else { return "[\(number) image \(name(p.path)), reading…]" }
        return "\(number) " + a.pill
    }

    static func draw(_ canvas: inout Canvas, _ state: ChatState, _ rect: Rect, theme: Theme) {
        guard rect.height > 0 else { return }
        if !tiles(state, size: canvas.size) {
            var x = rect.x + 1
            for (i, p) in state.pendingImages.enumerated() {
                let text = pill(p, number: i + 1)
                if x + CharWidth.of(text) > rect.maxX, i > 0 {
                    canvas.put("+\(state.pendingImages.count - i) more", x: x, y: rect.y, style: theme[.systemText], maxX: rect.maxX)
                    break
                }
                x = canvas.put(text, x: x, y: rect.y, style: theme[.notice], maxX: rect.maxX) + 2
            }
            return
        }
        var x = rect.x + 1
        for (i, p) in state.pendingImages.enumerated() {
            let preview = state.loadedImages[p.path]?.small
            let pictureWidth = preview?.width ?? 6
            let lines: [String]
            if let a = p.attachment {
                lines = ["\(i + 1) \(name(p.path, max: 18))", "\(a.width)x\(a.height)", a.tokens.map { "\($0) tokens" } ?? ""]
            } else {
                lines = ["\(i + 1) \(name(p.path, max: 18))", "reading…"]
            }
            let tileWidth = pictureWidth + 1 + (lines.map { CharWidth.of($0) }.max() ?? 0)
            if x + tileWidth > rect.maxX, i > 0 {
                canvas.put("+\(state.pendingImages.count - i) more", x: x, y: rect.y, style: theme[.systemText], maxX: rect.maxX)
                break
            }
            if let preview {
                for row in 0..<min(preview.rows, rect.height) {
                    for span in preview.spans(row: row, x: x) {
                        canvas.put(span.text, x: span.x, y: rect.y + row, style: span.style ?? .plain, maxX: rect.maxX)
                    }
                }
            } else {
                for row in 0..<rect.height {
                    canvas.put(String(repeating: "░", count: pictureWidth), x: x, y: rect.y + row, style: theme[.systemText], maxX: rect.maxX)
                }
            }
            for (row, line) in lines.enumerated() where row < rect.height {
                canvas.put(line, x: x + pictureWidth + 1, y: rect.y + row, style: row == 0 ? theme[.userLabel] : theme[.systemText],
                           maxX: rect.maxX)
            }
            x += tileWidth + 2
        }
    }

    /// The lines a user message's images take in the transcript: each image's preview with its name and
    /// size beside it, or a text pill (colours off, not read yet, or missing).
    static func transcriptLines(_ m: Message, _ state: ChatState, x: Int, width: Int) -> [Line] {
        var out: [Line] = []
        for image in m.images {
            guard !image.missing, state.previewMode == .color, let preview = state.loadedImages[image.path]?.large else {
                out.append(Line(x: x, image.pill, image.missing ? .errorText : .systemText))
                continue
            }
            let captionX = x + preview.width + 1
            let caption = [image.name, image.detail]
            for row in 0..<preview.rows {
                var line = Line(preview.spans(row: row, x: x))
                if row < caption.count, captionX < x + width {
                    line.spans.append(Span(x: captionX, text: caption[row], element: row == 0 ? .userLabel : .systemText))
                }
                out.append(line)
            }
        }
        return out
    }
}
