import Foundation
import ImageProcessing
import TestSupport
import XCTest

/// Tests/Fixtures/images/reference.json, written by Scripts/fixtures/make_image_fixtures.py from
/// transformers' load_image, PIL.Image.resize and transformers' rescale/normalize.
struct ImageReference: Decodable {
    /// What Pillow produced for one RGB image: size, sha256 of the bytes, the first 32 pixels of a few
    /// rows (hex, keyed by row index) and, for tiny images, all bytes.
    struct Pixels: Decodable {
        let width: Int
        let height: Int
        let sha256: String
        let rows: [String: String]
        let hex: String?
        let source: String?
        let filter: String?
        /// "pillow" (the installed Pillow's own pass order) or "horizontal_first" (Pillow <= 12).
        let order: String?
    }

    struct Normalized: Decodable {
        let source: String
        let resize: [Int]
        let filter: String
        let layout: String
        let rescale: Double
        let mean: [Double]
        let std: [Double]
        let sha256: String
        let first: [Float]
    }

    /// transformers' Qwen2VLImageProcessorPil on `load_image(source)`: pixel_values [patches, 1176].
    struct PatchedReference: Decodable {
        let source: String
        let patch_size: Int
        let temporal_patch_size: Int
        let merge_size: Int
        let grid_thw: [Int]
        let resized_width_height: [Int]
        let shape: [Int]
        let sha256: String
        let first: [Float]
    }

    let decode: [String: Pixels]
    let qwen2vl: [PatchedReference]
    let errors: [String: String]
    let resize: [Pixels]
    let normalize: [Normalized]

    static func load() throws -> ImageReference {
        try Fixtures.decode(ImageReference.self, "images/reference.json")
    }

    static func path(_ name: String) -> String { Fixtures.url("images/\(name)").path }
}

func hex(_ bytes: ArraySlice<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// Asserts `image` equals Pillow's output bit for bit; on a mismatch says where it first diverges.
func assertMatches(_ image: RGBImage, _ expected: ImageReference.Pixels, _ label: String,
                   file: StaticString = #filePath, line: UInt = #line) {
    guard image.width == expected.width, image.height == expected.height else {
        XCTFail("\(label): size \(image.width)x\(image.height), Pillow gives \(expected.width)x\(expected.height)",
                file: file, line: line)
        return
    }
    if let full = expected.hex {
        let mine = hex(image.pixels[...])
        if mine != full {
            let at = (zip(mine, full).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? 0) / 2
            XCTFail("\(label): first differing byte \(at) (pixel \(at / 3), x=\(at / 3 % image.width), "
                    + "y=\(at / 3 / image.width))", file: file, line: line)
            return
        }
    }
    for (key, rowHex) in expected.rows.sorted(by: { $0.key < $1.key }) {
        guard let y = Int(key), y < image.height else { continue }
        let start = y * image.width * 3
        let mine = hex(image.pixels[start..<(start + rowHex.count / 2)])
        if mine != rowHex {
            var worst = 0
            var firstPixel = -1
            let a = Array(image.pixels[start..<(start + rowHex.count / 2)])
            let b = stride(from: 0, to: rowHex.count, by: 2).map { i -> Int in
                let s = rowHex.index(rowHex.startIndex, offsetBy: i)
                return Int(rowHex[s..<rowHex.index(s, offsetBy: 2)], radix: 16) ?? -1
            }
            for i in 0..<a.count where Int(a[i]) != b[i] {
                worst = max(worst, abs(Int(a[i]) - b[i]))
                if firstPixel < 0 { firstPixel = i / 3 }
            }
            XCTFail("\(label): row \(y) differs from pixel x=\(firstPixel), max |diff| \(worst) in the first "
                    + "\(a.count / 3) pixels", file: file, line: line)
            return
        }
    }
    XCTAssertEqual(sha256Hex(image.pixels), expected.sha256, "\(label): pixel checksum differs from Pillow",
                   file: file, line: line)
}
