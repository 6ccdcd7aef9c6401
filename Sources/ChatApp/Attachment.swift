import Foundation
import TerminalUI

/// An image attached to a message: where it is, what it is, what it costs. Saved with the session.
public struct Attachment: Sendable, Codable, Equatable {
    /// Absolute path (`~` expanded), as sent to the engine.
    public var path: String
    public var width: Int
    public var height: Int
    /// Vision tokens the image takes in the prompt (nil: not known).
    public var tokens: Int?
    /// `RGBImage.contentHash` of the decoded image when it was attached (the engine's feature-cache key):
    /// on resume, a file whose pixels changed is not sent in the old one's place.
    public var contentHash: String?
    /// Set on resume when the file is gone or changed: the turn keeps a placeholder, the image is not sent.
    public var missing: Bool

    public init(path: String, width: Int, height: Int, tokens: Int?, contentHash: String?, missing: Bool = false) {
        self.path = path
        self.width = width
        self.height = height
        self.tokens = tokens
        self.contentHash = contentHash
        self.missing = missing
    }

    /// The file name, safe to draw.
    public var name: String { Sanitizer.clean((path as NSString).lastPathComponent, singleLine: true) }

    /// "photo.jpg 333x517, 54 tokens": the text pill drawn where colours are off.
    public var pill: String {
        if missing { return "[missing image \(name)]" }
        var s = "[image \(name) \(width)x\(height)"
        if let tokens { s += ", \(tokens) tokens" }
        return s + "]"
    }

    /// "333x517 · 54 tokens".
    public var detail: String {
        var s = "\(width)x\(height)"
        if let tokens { s += " · \(tokens) tok" }
        return s
    }
}

/// A small picture of an image for the terminal: `width` x `height` RGB pixels, drawn two pixels per
/// cell with "▀" (foreground = upper pixel, background = lower), so `height` is even.
public struct PreviewPixels: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]
    public init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public var rows: Int { height / 2 }

    func color(_ x: Int, _ y: Int) -> Color {
        let i = (y * width + x) * 3
        return .rgb(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// One cell row as spans of "▀" with the pixel colours.
    func spans(row: Int, x: Int) -> [Span] {
        (0..<width).map { c in
            Span(x: x + c, text: "▀", element: .userText,
                 style: Style(fg: color(c, 2 * row), bg: color(c, 2 * row + 1)))
        }
    }
}

/// What the background loader found for a path: the image's facts and two previews (the transcript's
/// and the attachments strip's), or the one-line error to show.
public struct LoadedImage: Sendable, Equatable {
    public var attachment: Attachment
    public var large: PreviewPixels
    public var small: PreviewPixels
    public init(attachment: Attachment, large: PreviewPixels, small: PreviewPixels) {
        self.attachment = attachment
        self.large = large
        self.small = small
    }
}

public enum ImageLoadResult: Sendable, Equatable {
    case loaded(LoadedImage)
    case failed(String)
}

/// How previews are drawn: half blocks in colour, or text pills (NO_COLOR, --no-color).
public enum PreviewMode: Sendable, Equatable {
    case color
    case text
}
