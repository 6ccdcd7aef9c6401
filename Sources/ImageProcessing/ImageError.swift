/// Everything that can go wrong reading or transforming an image. `description` is one line that names
/// the file (or "<memory>" for in-memory data) so it can be shown to the user as is.
public enum ImageError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file could not be read at all.
    case unreadable(path: String, reason: String)
    /// The bytes are not a JPEG or PNG; `detected` names the format when it is a known other one.
    case unsupportedFormat(path: String, detected: String)
    /// The decoder rejected the data (truncated, corrupt, or a variant Pillow refuses too).
    case corrupt(path: String, format: String, reason: String)
    /// The header announces more pixels than `ImageLimits.maxPixels`; nothing was allocated.
    case tooLarge(path: String, width: Int, height: Int, maxPixels: Int)
    /// A caller passed impossible geometry (zero size, wrong buffer length, bad crop, ...).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): cannot read image file: \(reason)"
        case let .unsupportedFormat(path, detected):
            return "\(path): unsupported image format (\(detected)); only JPEG and PNG can be read"
        case let .corrupt(path, format, reason):
            return "\(path): corrupt or truncated \(format) image: \(reason)"
        case let .tooLarge(path, width, height, maxPixels):
            let mp = Double(width) * Double(height) / 1e6
            let limit = Double(maxPixels) / 1e6
            return "\(path): image is \(width)x\(height) (\(Self.format(mp)) megapixels), over the limit of "
                + "\(Self.format(limit)) megapixels; refusing to decode it"
        case let .invalidArgument(message):
            return "invalid image operation: \(message)"
        }
    }

    private static func format(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}

/// Resource limits checked from the header, before any pixel memory is allocated.
public struct ImageLimits: Sendable, Equatable {
    /// Largest width*height accepted. Default 100 megapixels (300 MB of RGB).
    public var maxPixels: Int

    public init(maxPixels: Int = 100_000_000) {
        self.maxPixels = maxPixels
    }

    public static let `default` = ImageLimits()
}
