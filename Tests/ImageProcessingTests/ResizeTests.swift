import Foundation
import ImageProcessing
import TestSupport
import XCTest

/// `Resampler.resize` against `PIL.Image.resize` for every filter, down- and up-scaling, one-axis
/// resizes, 1x1 and identity. Sources are lossless PNGs so these tests do not depend on JPEG decoding.
final class ResizeTests: XCTestCase {
    private var sources: [String: RGBImage] = [:]

    private func source(_ name: String) throws -> RGBImage {
        if let image = sources[name] { return image }
        let image = try ImageDecoder.decode(path: ImageReference.path(name))
        sources[name] = image
        return image
    }

    private func run(filter: ResampleFilter) throws {
        let reference = try ImageReference.load()
        let cases = reference.resize.filter { $0.filter == filter.rawValue }
        XCTAssertGreaterThanOrEqual(cases.count, 14)
        for expected in cases {
            guard let name = expected.source else { return XCTFail("resize reference without source") }
            let input = try source(name)
            let order: ResamplePassOrder = expected.order == "horizontal_first" ? .horizontalFirst : .pillow
            let output = Resampler.resize(input, width: expected.width, height: expected.height, filter: filter,
                                          passOrder: order)
            assertMatches(output, expected, "\(name) \(input.width)x\(input.height) -> "
                          + "\(expected.width)x\(expected.height) \(filter) \(order)")
        }
    }

    func testBicubic() throws { try run(filter: .bicubic) }
    func testBilinear() throws { try run(filter: .bilinear) }
    func testLanczos() throws { try run(filter: .lanczos) }
    func testNearest() throws { try run(filter: .nearest) }

    func testBothPassOrdersAreCovered() throws {
        let reference = try ImageReference.load()
        let legacy = reference.resize.filter { $0.order == "horizontal_first" }
        XCTAssertGreaterThanOrEqual(legacy.count, 30)
        // The cases where Pillow 13 goes vertical first must really differ from the legacy order,
        // otherwise the fixtures would not pin the rule.
        let differing = legacy.filter { old in
            reference.resize.contains { $0.order == "pillow" && $0.source == old.source && $0.filter == old.filter
                && $0.width == old.width && $0.height == old.height && $0.sha256 != old.sha256 }
        }
        XCTAssertGreaterThanOrEqual(differing.count, 6)
    }

    func testConstantImageStaysConstant() throws {
        // Weights are normalised to 1, so a flat colour survives every filter and scale exactly.
        let flat = RGBImage(width: 31, height: 17, fill: (7, 200, 255))
        for filter in ResampleFilter.allCases {
            for (w, h) in [(5, 3), (64, 40), (31, 50)] {
                let out = Resampler.resize(flat, width: w, height: h, filter: filter)
                XCTAssertEqual(out, RGBImage(width: w, height: h, fill: (7, 200, 255)), "\(filter) \(w)x\(h)")
            }
        }
    }
}
