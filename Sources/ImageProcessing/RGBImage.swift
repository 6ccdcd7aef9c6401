import CImageCodecs

/// An 8-bit RGB image: `pixels` holds `width * height * 3` bytes, rows top to bottom, each pixel R, G, B
/// (the layout of PIL's `Image.tobytes()` for mode "RGB" and of a numpy array `[H, W, 3]`).
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public internal(set) var pixels: [UInt8]

    /// Wraps existing pixels. Precondition: `width, height > 0` and `pixels.count == width * height * 3`
    /// (a programming error otherwise; use `init(width:height:checking:)` for buffers from outside).
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes do not make a \(width)x\(height) RGB image")
        self.init(unchecked: width, height: height, pixels: pixels)
    }

    /// Wraps pixels from an untrusted source; throws instead of trapping when the size does not match.
    public init(width: Int, height: Int, checking pixels: [UInt8]) throws {
        guard width > 0, height > 0 else {
            throw ImageError.invalidArgument("image size \(width)x\(height) must be positive")
        }
        let (count, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, count <= Int.max / 3, pixels.count == count * 3 else {
            throw ImageError.invalidArgument("\(pixels.count) bytes do not make a \(width)x\(height) RGB image")
        }
        self.init(unchecked: width, height: height, pixels: pixels)
    }

    /// A `width` x `height` image filled with one colour. Precondition: both sides positive.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        precondition(width > 0 && height > 0, "RGBImage: size \(width)x\(height) must be positive")
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        if fill != (0, 0, 0) {
            for i in stride(from: 0, to: pixels.count, by: 3) {
                pixels[i] = fill.0
                pixels[i + 1] = fill.1
                pixels[i + 2] = fill.2
            }
        }
        self.init(unchecked: width, height: height, pixels: pixels)
    }

    /// For producers inside this module that already guarantee the invariant.
    init(unchecked width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The pixel at column `x`, row `y` (no bounds check beyond the array's own).
    public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// SHA-256 (lowercase hex) of "RGB8", width and height (UInt32 little endian) and the pixel bytes:
    /// a cache key for vision embeddings that is equal exactly when the decoded images are equal.
    public var contentHash: String {
        var ctx = sq_sha256_ctx()
        sq_sha256_init(&ctx)
        var header: [UInt8] = Array("RGB8".utf8)
        for value in [UInt32(truncatingIfNeeded: width), UInt32(truncatingIfNeeded: height)] {
            for shift in stride(from: 0, to: 32, by: 8) { header.append(UInt8(truncatingIfNeeded: value >> shift)) }
        }
        header.withUnsafeBufferPointer { sq_sha256_update(&ctx, $0.baseAddress, $0.count) }
        pixels.withUnsafeBufferPointer { sq_sha256_update(&ctx, $0.baseAddress, $0.count) }
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { sq_sha256_final(&ctx, $0.baseAddress) }
        return hexString(digest)
    }
}

/// SHA-256 of arbitrary bytes as lowercase hex (the form Python's `hashlib.sha256(b).hexdigest()` gives).
public func sha256Hex(_ bytes: [UInt8]) -> String {
    var digest = [UInt8](repeating: 0, count: 32)
    bytes.withUnsafeBufferPointer { input in
        digest.withUnsafeMutableBufferPointer { sq_sha256(input.baseAddress, input.count, $0.baseAddress) }
    }
    return hexString(digest)
}

func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Test hook: switches SHA-256 between the x86 SHA extensions and portable C; returns whether the
/// accelerated path is now in use (false on CPUs without it).
@discardableResult
func useAcceleratedSHA256(_ enabled: Bool) -> Bool {
    sq_sha256_accelerated(enabled ? 1 : 0) != 0
}
