import Foundation
import ImageProcessing
import XCTest

/// The whole chain decode -> resize -> rescale/normalize against transformers' Qwen2-VL PIL image
/// processor. The target size comes from the reference (smart_resize belongs to the model side) and the
/// patch layout is rebuilt here, so this checks the ImageProcessing parts end to end.
final class PipelineTests: XCTestCase {
    func testQwen2VLPixelValuesBitExact() throws {
        let reference = try ImageReference.load()
        XCTAssertGreaterThanOrEqual(reference.qwen2vl.count, 4)
        for expected in reference.qwen2vl {
            let image = try ImageDecoder.decode(path: ImageReference.path(expected.source))
            let (w, h) = (expected.resized_width_height[0], expected.resized_width_height[1])
            let resized = Resampler.resize(image, width: w, height: h, filter: .bicubic)
            let chw = Normalizer.openAICLIP.apply(resized, layout: .channelsFirst)  // [3, h, w]
            let patches = flattenPatches(chw, width: w, height: h, patch: expected.patch_size,
                                         temporal: expected.temporal_patch_size, merge: expected.merge_size)
            XCTAssertEqual(patches.count, expected.shape[0] * expected.shape[1], expected.source)
            XCTAssertEqual([1, h / expected.patch_size, w / expected.patch_size], expected.grid_thw)
            XCTAssertEqual(Array(patches.prefix(8)), expected.first, expected.source)
            var bytes = [UInt8]()
            bytes.reserveCapacity(patches.count * 4)
            for v in patches {
                let bits = v.bitPattern
                bytes += [UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8),
                          UInt8(truncatingIfNeeded: bits >> 16), UInt8(truncatingIfNeeded: bits >> 24)]
            }
            XCTAssertEqual(sha256Hex(bytes), expected.sha256, "\(expected.source): pixel_values differ")
        }
    }

    /// transformers' patchify: rows ordered [gh/m][gw/m][m][m], each row [C][T][P][P], the still image
    /// repeated over the temporal axis.
    private func flattenPatches(_ chw: [Float], width: Int, height: Int, patch p: Int, temporal t: Int,
                                merge m: Int) -> [Float] {
        let gh = height / p, gw = width / p
        var out = [Float]()
        out.reserveCapacity(gh * gw * 3 * t * p * p)
        for bh in 0..<(gh / m) { for bw in 0..<(gw / m) { for ih in 0..<m { for iw in 0..<m {
            let y0 = (bh * m + ih) * p, x0 = (bw * m + iw) * p
            for c in 0..<3 {
                for _ in 0..<t {
                    for y in 0..<p {
                        let row = c * width * height + (y0 + y) * width + x0
                        out += chw[row..<(row + p)]
                    }
                }
            }
        } } } }
        return out
    }
}
