import Foundation
import ImageProcessing
import TestSupport
import XCTest

/// Bad input is a thrown ImageError with a one-line message naming the file, never a crash or exit().
final class DecodeErrorTests: XCTestCase {
    private func error(_ name: String, limits: ImageLimits = .default) -> ImageError? {
        do {
            _ = try ImageDecoder.decode(path: ImageReference.path(name), limits: limits)
            return nil
        } catch let error as ImageError {
            return error
        } catch {
            XCTFail("\(name): unexpected error type \(error)")
            return nil
        }
    }

    private func assertOneLine(_ error: ImageError?, naming name: String, contains words: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        guard let error else { return XCTFail("\(name) decoded without error", file: file, line: line) }
        let text = error.description
        XCTAssertFalse(text.contains("\n"), "multi-line message: \(text)", file: file, line: line)
        XCTAssertTrue(text.contains(name), "message does not name the file: \(text)", file: file, line: line)
        for word in words {
            XCTAssertTrue(text.lowercased().contains(word.lowercased()), "'\(word)' missing in: \(text)",
                          file: file, line: line)
        }
    }

    func testPillowRefusesTheSameFiles() throws {
        // The reference records that Pillow raised for each of these too.
        let reference = try ImageReference.load()
        for (name, outcome) in reference.errors {
            XCTAssertNotEqual(outcome, "pillow-loaded", "\(name) loads in Pillow; fixture expectation wrong")
            XCTAssertNotNil(error(name), "\(name) should not decode")
        }
    }

    func testTruncatedBaselineJPEG() {
        assertOneLine(error("truncated.jpg"), naming: "truncated.jpg", contains: ["JPEG", "premature end"])
    }

    func testTruncatedProgressiveJPEG() {
        assertOneLine(error("progressive_truncated.jpg"), naming: "progressive_truncated.jpg", contains: ["JPEG"])
    }

    func testTruncatedPNG() {
        assertOneLine(error("truncated.png"), naming: "truncated.png", contains: ["PNG", "truncated"])
    }

    func testHugeHeaderRefusedBeforeAllocating() {
        let e = error("huge_header.png")
        assertOneLine(e, naming: "huge_header.png", contains: ["30000x30000", "900", "limit", "100 megapixels"])
        guard case .tooLarge(_, 30000, 30000, 100_000_000)? = e else { return XCTFail("wrong case: \(String(describing: e))") }
    }

    func testConfigurableLimitAlsoAppliesToJPEG() {
        let e = error("photo_333x517.jpg", limits: ImageLimits(maxPixels: 100_000))
        guard case .tooLarge(_, 333, 517, 100_000)? = e else { return XCTFail("wrong case: \(String(describing: e))") }
        XCTAssertNil(error("photo_333x517.jpg", limits: ImageLimits(maxPixels: 333 * 517)))
    }

    func testUnknownAndUnsupportedFormats() {
        assertOneLine(error("not_an_image.bin"), naming: "not_an_image.bin", contains: ["unsupported", "68 65 6c 6c"])
        assertOneLine(error("fake.gif"), naming: "fake.gif", contains: ["GIF"])
    }

    func testMissingFile() {
        assertOneLine(error("does_not_exist.jpg"), naming: "does_not_exist.jpg", contains: ["cannot read"])
    }

    func testEmptyAndTinyInputs() {
        for bytes: [UInt8] in [[], [0xFF, 0xD8], [0xFF, 0xD8, 0xFF], Array("\u{89}PNG\r\n\u{1a}\n".utf8)] {
            XCTAssertThrowsError(try ImageDecoder.decode(bytes: bytes, name: "tiny")) { error in
                XCTAssertTrue("\(error)".hasPrefix("tiny: "), "\(error)")
            }
        }
    }

    func testCorruptedJPEGBodyNeverCrashes() throws {
        // Flip bytes all over the entropy-coded data and markers: each must decode or throw, not exit.
        let original = try [UInt8](Data(contentsOf: Fixtures.url("images/photo_422_odd.jpg")))
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<60 {
            var bytes = original
            for _ in 0..<(1 + trial % 5) {
                bytes[Int.random(in: 2..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if trial % 7 == 0 { bytes = Array(bytes.prefix(Int.random(in: 3..<bytes.count, using: &rng))) }
            _ = try? ImageDecoder.decode(bytes: bytes, name: "fuzz.jpg")
        }
    }

    func testCorruptedPNGNeverCrashes() throws {
        let original = try [UInt8](Data(contentsOf: Fixtures.url("images/palette_trns.png")))
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<60 {
            var bytes = original
            bytes[Int.random(in: 8..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            if trial % 5 == 0 { bytes = Array(bytes.prefix(Int.random(in: 9..<bytes.count, using: &rng))) }
            _ = try? ImageDecoder.decode(bytes: bytes, name: "fuzz.png")
        }
    }
}
