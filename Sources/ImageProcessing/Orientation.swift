/// Finds the EXIF orientation the way Pillow's `Image.getexif()` does for JPEG and PNG, so that
/// `ImageOps.exif_transpose` (called by transformers' `load_image`) can be reproduced.
///
/// Sources, in Pillow's order of precedence:
///  1. EXIF: JPEG APP1 segments starting "Exif\0\0" before the first scan (the first one, with later
///     ones appended, as JpegImagePlugin does), or the PNG eXIf chunk. Tag 0x0112 in IFD0.
///  2. Only when EXIF has no orientation tag: XMP (`tiff:Orientation="N"` or `<tiff:Orientation>N`),
///     from the last JPEG APP1 "http://ns.adobe.com/xap/1.0/\0" segment or PNG iTXt "XML:com.adobe.xmp".
/// Malformed metadata is ignored (orientation 1) rather than failing the decode.
enum OrientationReader {
    static func jpegOrientation(_ data: [UInt8]) -> Int {
        var exif: [UInt8]?
        var xmp: [UInt8]?
        var pos = 2  // after SOI
        let exifHeader = Array("Exif\0\0".utf8)
        let xmpHeader = Array("http://ns.adobe.com/xap/1.0/\0".utf8)
        while pos + 1 < data.count {
            guard data[pos] == 0xFF else { pos += 1; continue }  // Pillow skips junk between markers
            let marker = data[pos + 1]
            if marker == 0xFF { pos += 1; continue }               // fill byte
            pos += 2
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { continue }
            if marker == 0xDA || marker == 0xD9 { break }          // start of scan / end of image
            guard pos + 2 <= data.count else { break }
            let length = Int(data[pos]) << 8 | Int(data[pos + 1])
            guard length >= 2, pos + length <= data.count else { break }
            let segment = data[(pos + 2)..<(pos + length)]
            if marker == 0xE1 {
                if segment.starts(with: exifHeader) {
                    if let first = exif { exif = first + segment.dropFirst(6) } else { exif = Array(segment) }
                } else if segment.starts(with: xmpHeader) {
                    xmp = Array(segment.dropFirst(xmpHeader.count))
                }
            }
            pos += length
        }
        return resolve(exif: exif, xmp: xmp)
    }

    static func pngOrientation(_ data: [UInt8]) -> Int {
        var exif: [UInt8]?
        var xmp: [UInt8]?
        var pos = 8
        while pos + 12 <= data.count {
            let length = Int(readU32(data, pos, bigEndian: true))
            let type = String(decoding: data[(pos + 4)..<(pos + 8)], as: UTF8.self)
            let start = pos + 8
            guard length <= data.count - start - 4 else { break }
            let body = data[start..<(start + length)]
            if type == "eXIf" {
                exif = Array(body)
            } else if type == "iTXt", let text = uncompressedITXt(body, keyword: "XML:com.adobe.xmp") {
                xmp = text
            } else if type == "IEND" {
                break
            }
            pos = start + length + 4
        }
        return resolve(exif: exif, xmp: xmp)
    }

    private static func resolve(exif: [UInt8]?, xmp: [UInt8]?) -> Int {
        if let exif, let value = exifOrientation(exif) { return value }
        if let xmp, let value = xmpOrientation(xmp) { return value }
        return 1
    }

    /// Tag 0x0112 of IFD0 when present with count 1 and an integer type; nil when absent.
    static func exifOrientation(_ raw: [UInt8]) -> Int? {
        var tiff = raw[...]
        for _ in 0..<2 where tiff.starts(with: Array("Exif\0\0".utf8)) { tiff = tiff.dropFirst(6) }
        let d = Array(tiff)
        guard d.count >= 8 else { return nil }
        let bigEndian: Bool
        switch (d[0], d[1]) {
        case (0x4D, 0x4D): bigEndian = true    // "MM"
        case (0x49, 0x49): bigEndian = false   // "II"
        default: return nil
        }
        guard readU16(d, 2, bigEndian: bigEndian) == 42 else { return nil }  // BigTIFF (43) not handled
        let ifd = Int(readU32(d, 4, bigEndian: bigEndian))
        guard ifd >= 0, ifd + 2 <= d.count else { return nil }
        let count = Int(readU16(d, ifd, bigEndian: bigEndian))
        var found: Int?
        for i in 0..<count {
            let e = ifd + 2 + 12 * i
            guard e + 12 <= d.count else { break }  // Pillow keeps the tags read before a truncation
            guard readU16(d, e, bigEndian: bigEndian) == 0x0112,
                  readU32(d, e + 4, bigEndian: bigEndian) == 1 else { continue }
            switch readU16(d, e + 2, bigEndian: bigEndian) {
            case 1: found = Int(d[e + 8])                                            // BYTE
            case 6: found = Int(Int8(bitPattern: d[e + 8]))                          // SBYTE
            case 3: found = Int(readU16(d, e + 8, bigEndian: bigEndian))            // SHORT
            case 8: found = Int(Int16(bitPattern: readU16(d, e + 8, bigEndian: bigEndian)))
            case 4: found = Int(readU32(d, e + 8, bigEndian: bigEndian))            // LONG
            case 9: found = Int(Int32(bitPattern: readU32(d, e + 8, bigEndian: bigEndian)))
            default: continue
            }
        }
        return found
    }

    /// Pillow's regex `tiff:Orientation(="|>)([0-9])`: the first match wins.
    static func xmpOrientation(_ xmp: [UInt8]) -> Int? {
        let key = Array("tiff:Orientation".utf8)
        var i = 0
        while i + key.count + 1 < xmp.count {
            if xmp[i] == key[0] && xmp[i..<(i + key.count)].elementsEqual(key) {
                var j = i + key.count
                if xmp[j] == UInt8(ascii: "=") && j + 1 < xmp.count && xmp[j + 1] == UInt8(ascii: "\"") {
                    j += 2
                } else if xmp[j] == UInt8(ascii: ">") {
                    j += 1
                } else {
                    i += 1
                    continue
                }
                if j < xmp.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(xmp[j]) {
                    return Int(xmp[j] - UInt8(ascii: "0"))
                }
            }
            i += 1
        }
        return nil
    }

    /// The text of an iTXt chunk with `keyword` when it is stored uncompressed.
    private static func uncompressedITXt(_ body: ArraySlice<UInt8>, keyword: String) -> [UInt8]? {
        let b = Array(body)
        guard let k = b.firstIndex(of: 0), String(decoding: b[..<k], as: UTF8.self) == keyword,
              k + 2 < b.count, b[k + 1] == 0 else { return nil }
        var p = k + 3                                          // flag, method
        guard let lang = b[p...].firstIndex(of: 0) else { return nil }
        p = lang + 1
        guard let translated = b[p...].firstIndex(of: 0) else { return nil }
        return Array(b[(translated + 1)...])
    }
}

func readU16(_ d: [UInt8], _ at: Int, bigEndian: Bool) -> UInt16 {
    let a = UInt16(d[at]), b = UInt16(d[at + 1])
    return bigEndian ? a << 8 | b : b << 8 | a
}

func readU32(_ d: [UInt8], _ at: Int, bigEndian: Bool) -> UInt32 {
    let bytes = (0..<4).map { UInt32(d[at + $0]) }
    return bigEndian
        ? bytes[0] << 24 | bytes[1] << 16 | bytes[2] << 8 | bytes[3]
        : bytes[3] << 24 | bytes[2] << 16 | bytes[1] << 8 | bytes[0]
}
