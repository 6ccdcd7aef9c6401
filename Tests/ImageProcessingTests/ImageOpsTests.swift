import Foundation
import ImageProcessing
import TestSupport
import XCTest

final class ImageOpsTests: XCTestCase {
    /// rescale(1/255) + normalize(CLIP mean/std) against transformers' slow-path numpy code, bit for bit.
    func testNormalizeMatchesTransformers() throws {
        let reference = try ImageReference.load()
        XCTAssertEqual(reference.normalize.count, 2)
        for expected in reference.normalize {
            let source = try ImageDecoder.decode(path: ImageReference.path(expected.source))
            let filter = try XCTUnwrap(ResampleFilter(rawValue: expected.filter))
            let resized = Resampler.resize(source, width: expected.resize[0], height: expected.resize[1],
                                               filter: filter)
            let normalizer = try Normalizer(rescaleFactor: expected.rescale, mean: expected.mean, std: expected.std)
            XCTAssertEqual(normalizer, Normalizer.openAICLIP)
            let values = normalizer.apply(resized, layout: expected.layout == "chw" ? .channelsFirst : .channelsLast)
            XCTAssertEqual(Array(values.prefix(8)), expected.first, expected.layout)
            var bytes = [UInt8]()
            bytes.reserveCapacity(values.count * 4)
            for v in values {
                let bits = v.bitPattern.littleEndian
                for s in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> s)) }
            }
            XCTAssertEqual(sha256Hex(bytes), expected.sha256, "\(expected.layout) floats differ from transformers")
        }
    }

    func testNormalizerOptionalSteps() throws {
        let image = RGBImage(width: 1, height: 1, pixels: [0, 128, 255])
        XCTAssertEqual(try Normalizer(rescaleFactor: nil, mean: nil, std: nil).apply(image), [0, 128, 255])
        XCTAssertEqual(try Normalizer(mean: nil, std: nil).apply(image), [0, Float(128.0 / 255.0), 1])
        XCTAssertEqual(Normalizer.imagenetStandard.apply(image, layout: .channelsLast), [-1, Float(Float(128.0 / 255.0) - 0.5) / 0.5, 1])
        XCTAssertThrowsError(try Normalizer(mean: [0.5], std: [0.5, 0.5, 0.5]))
    }

    func testChannelsFirstLayout() throws {
        let image = RGBImage(width: 2, height: 1, pixels: [1, 2, 3, 4, 5, 6])
        let n = try Normalizer(rescaleFactor: nil, mean: nil, std: nil)
        XCTAssertEqual(n.apply(image, layout: .channelsFirst), [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(n.apply(image, layout: .channelsLast), [1, 2, 3, 4, 5, 6])
    }

    func testCropInsideAndOutside() throws {
        let image = RGBImage(width: 3, height: 2, pixels: Array(1...18))
        let inner = try image.cropped(x: 1, y: 0, width: 2, height: 2)
        XCTAssertEqual(inner.pixels, [4, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 18])
        // Like PIL's crop, the area outside the image is black.
        let outer = try image.cropped(x: -1, y: 1, width: 2, height: 2)
        XCTAssertEqual(outer.pixels, [0, 0, 0, 10, 11, 12, 0, 0, 0, 0, 0, 0])
        XCTAssertThrowsError(try image.cropped(x: 0, y: 0, width: 0, height: 1))
    }

    func testPad() throws {
        let image = RGBImage(width: 1, height: 1, pixels: [9, 9, 9])
        let padded = try image.padded(left: 1, top: 0, right: 0, bottom: 1, fill: (1, 2, 3))
        XCTAssertEqual(padded.width, 2)
        XCTAssertEqual(padded.height, 2)
        XCTAssertEqual(padded.pixels, [1, 2, 3, 9, 9, 9, 1, 2, 3, 1, 2, 3])
        let centred = try image.padded(toWidth: 3, height: 1, centred: true)
        XCTAssertEqual(centred.pixels, [0, 0, 0, 9, 9, 9, 0, 0, 0])
        XCTAssertThrowsError(try image.padded(toWidth: 0, height: 1))
    }

    func testContentHash() throws {
        let a = RGBImage(width: 2, height: 3, fill: (1, 2, 3))
        let b = RGBImage(width: 3, height: 2, fill: (1, 2, 3))  // same bytes, other shape
        XCTAssertEqual(a.contentHash.count, 64)
        XCTAssertNotEqual(a.contentHash, b.contentHash)
        XCTAssertEqual(a.contentHash, RGBImage(width: 2, height: 3, pixels: a.pixels).contentHash)
        // The hash is SHA-256 of "RGB8" + LE32 width + LE32 height + pixels (SHA-256 itself: HashTests).
        var header = Array("RGB8".utf8) + [2, 0, 0, 0, 3, 0, 0, 0]
        header += a.pixels
        XCTAssertEqual(a.contentHash, sha256Hex(header))
    }

    func testRGBImageValidatesBufferSize() {
        XCTAssertThrowsError(try RGBImage(width: 2, height: 2, checking: [1, 2, 3]))
        XCTAssertThrowsError(try RGBImage(width: -1, height: 2, checking: []))
        XCTAssertThrowsError(try RGBImage(width: Int.max / 2, height: 4, checking: []))
        XCTAssertEqual(try RGBImage(width: 1, height: 1, checking: [1, 2, 3]).pixels, [1, 2, 3])
    }
}
