import CImageCodecs
import Foundation

/// Reads JPEG and PNG files into `RGBImage`, reproducing transformers' `load_image`:
/// `PIL.Image.open` -> `ImageOps.exif_transpose` -> `convert("RGB")` (alpha is dropped, not composited).
public enum ImageDecoder {
    public enum Format: String, Sendable { case jpeg = "JPEG", png = "PNG" }

    /// Decodes the file at `path`. Errors name the path. `applyEXIFOrientation: false` keeps the stored
    /// pixel order (transformers always applies it).
    public static func decode(path: String, limits: ImageLimits = .default, applyEXIFOrientation: Bool = true)
        throws -> RGBImage {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw ImageError.unreadable(path: path, reason: Self.reason(error))
        }
        return try decode(bytes: [UInt8](data), name: path, limits: limits, applyEXIFOrientation: applyEXIFOrientation)
    }

    /// Decodes in-memory file contents; `name` is used in error messages.
    public static func decode(data: Data, name: String = "<memory>", limits: ImageLimits = .default,
                              applyEXIFOrientation: Bool = true) throws -> RGBImage {
        try decode(bytes: [UInt8](data), name: name, limits: limits, applyEXIFOrientation: applyEXIFOrientation)
    }

    /// Decodes in-memory file contents; `name` is used in error messages.
    public static func decode(bytes: [UInt8], name: String = "<memory>", limits: ImageLimits = .default,
                              applyEXIFOrientation: Bool = true) throws -> RGBImage {
        let format = try sniff(bytes, name: name)
        let image = format == .jpeg ? try decodeJPEG(bytes, name: name, limits: limits)
                                    : try decodePNG(bytes, name: name, limits: limits)
        return applyEXIFOrientation ? image.applyingEXIFOrientation(orientation(of: bytes, format: format)) : image
    }

    /// The EXIF orientation (1...8; 1 when absent or malformed) Pillow's `getexif()` would report.
    public static func orientation(of bytes: [UInt8], format: Format) -> Int {
        switch format {
        case .jpeg: return OrientationReader.jpegOrientation(bytes)
        case .png: return OrientationReader.pngOrientation(bytes)
        }
    }

    /// The format from the magic bytes; other well-known formats get a named error.
    public static func sniff(_ bytes: [UInt8], name: String) throws -> Format {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + magic.count && Array(bytes[offset..<(offset + magic.count)]) == magic
        }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        let known: [(String, [UInt8], Int)] = [
            ("GIF", Array("GIF8".utf8), 0), ("WebP", Array("WEBP".utf8), 8), ("BMP", Array("BM".utf8), 0),
            ("TIFF", [0x49, 0x49, 0x2A, 0x00], 0), ("TIFF", [0x4D, 0x4D, 0x00, 0x2A], 0),
            ("HEIF/AVIF or other ISO media", Array("ftyp".utf8), 4), ("JPEG 2000", [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50], 0),
            ("ICO", [0x00, 0x00, 0x01, 0x00], 0),
        ]
        for (format, magic, offset) in known where starts(magic, at: offset) {
            throw ImageError.unsupportedFormat(path: name, detected: format)
        }
        if bytes.isEmpty { throw ImageError.unsupportedFormat(path: name, detected: "empty file") }
        let head = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw ImageError.unsupportedFormat(path: name, detected: "unrecognised, starts with \(head)")
    }

    // MARK: - JPEG

    private static func decodeJPEG(_ bytes: [UInt8], name: String, limits: ImageLimits) throws -> RGBImage {
        var message = [CChar](repeating: 0, count: 256)
        var header = sq_jpeg_header()
        let status = bytes.withUnsafeBufferPointer { input in
            sq_jpeg_read_header(input.baseAddress, input.count, &header, &message, message.count)
        }
        guard status == SQ_OK else {
            throw ImageError.corrupt(path: name, format: "JPEG", reason: text(message))
        }
        let width = Int(header.width), height = Int(header.height)
        let rgbCount = try checkedSize(width, height, name: name, format: "JPEG", limits: limits)
        var failure: Int32 = SQ_OK
        let pixels = [UInt8](unsafeUninitializedCapacity: rgbCount) { out, initialized in
            failure = bytes.withUnsafeBufferPointer { input in
                sq_jpeg_decode_rgb(input.baseAddress, input.count, out.baseAddress, rgbCount, &message,
                                   message.count)
            }
            if failure != SQ_OK { out.initialize(repeating: 0) }  // the array must be fully initialised
            initialized = rgbCount
        }
        guard failure == SQ_OK else {
            throw ImageError.corrupt(path: name, format: "JPEG", reason: text(message))
        }
        return RGBImage(unchecked: width, height: height, pixels: pixels)
    }

    // MARK: - PNG

    private static func decodePNG(_ bytes: [UInt8], name: String, limits: ImageLimits) throws -> RGBImage {
        // IHDR is always first and fixed-size: read the size here, so a huge claimed size is refused
        // before libpng (or anything else) allocates for it.
        guard bytes.count >= 33, readU32(bytes, 8, bigEndian: true) == 13,
              Array(bytes[12..<16]) == Array("IHDR".utf8) else {
            throw ImageError.corrupt(path: name, format: "PNG", reason: "missing or malformed IHDR chunk")
        }
        guard crc32(bytes[12..<29]) == readU32(bytes, 29, bigEndian: true) else {
            // Checked here so that a damaged size field cannot trigger a large allocation.
            throw ImageError.corrupt(path: name, format: "PNG", reason: "IHDR checksum mismatch")
        }
        let width = Int(readU32(bytes, 16, bigEndian: true)), height = Int(readU32(bytes, 20, bigEndian: true))
        let rgbCount = try checkedSize(width, height, name: name, format: "PNG", limits: limits)
        var message = [CChar](repeating: 0, count: 256)
        var failure: Int32 = SQ_OK
        let pixels = [UInt8](unsafeUninitializedCapacity: rgbCount) { out, initialized in
            failure = bytes.withUnsafeBufferPointer { input in
                sq_png_decode_rgb(input.baseAddress, input.count, UInt32(width), UInt32(height), out.baseAddress,
                                  rgbCount, &message, message.count)
            }
            if failure != SQ_OK { out.initialize(repeating: 0) }
            initialized = rgbCount
        }
        guard failure == SQ_OK else {
            throw ImageError.corrupt(path: name, format: "PNG", reason: text(message))
        }
        return RGBImage(unchecked: width, height: height, pixels: pixels)
    }

    // MARK: - Helpers

    /// width*height*3 after checking the header's size against the limit (before any allocation).
    private static func checkedSize(_ width: Int, _ height: Int, name: String, format: String,
                                    limits: ImageLimits) throws -> Int {
        guard width > 0, height > 0 else {
            throw ImageError.corrupt(path: name, format: format, reason: "header gives size \(width)x\(height)")
        }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= limits.maxPixels else {
            throw ImageError.tooLarge(path: name, width: width, height: height, maxPixels: limits.maxPixels)
        }
        return pixels * 3
    }

    /// CRC-32 as PNG chunks use it (ISO 3309, reflected, polynomial 0xEDB88320).
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    private static func text(_ message: [CChar]) -> String {
        let s = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return s.isEmpty ? "decoder error" : s
    }

    private static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain, let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return ns.localizedDescription.replacingOccurrences(of: "\n", with: " ")
    }
}
