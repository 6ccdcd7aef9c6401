import Foundation
import ImageProcessing
import ModelFormats
import XCTest
@testable import Models
import TestSupport

/// The mmproj path (Tests/Fixtures/gguf-vl, Scripts/fixtures/make_gguf_vl_fixtures.py) against llama.cpp on the
/// same files: image grid and token count, the projector's output features (llama.cpp's F32 run), and the
/// one-line errors for files that do not fit together.
///
/// Features, measured against llama.cpp's (nmse = sum of squared differences / sum of squares): Qwen2.5-VL
/// ~1e-14 on the image taken as is and ~6e-11 on the resized one, Qwen2-VL ~1.5e-8 (max |diff| 6e-4 on
/// values up to ~2.5). Bound: nmse 5e-8 and max |diff| 1e-3 x the largest value. That needs llama.cpp's own
/// arithmetic where it is not f32: the patch embedding as an f16 x f16 product (ggml_conv_2d's F16 im2col)
/// and ggml's f16-table GELUs; with either done in f32 as transformers does, the nmse is >= 1.2e-7. With
/// transformers' stretch instead of llama.cpp's fit-and-pad resize the error is ~1.7 on the resized image.
final class GGUFVisionTests: XCTestCase {
    static let dir = Fixtures.url("gguf-vl")

    private func reference() throws -> [String: Any] {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: Self.dir.appendingPathComponent("reference.json").path),
                          "gguf-vl fixtures missing")
        return try Fixtures.json("gguf-vl/reference.json") as! [String: Any]
    }

    func testFeaturesAndGridMatchLlamaCpp() throws {
        let models = try reference()["models"] as! [String: [String: Any]]
        for (name, m) in models.sorted(by: { $0.key < $1.key }) {
            let model = try LoadedModel(gguf: Self.dir.appendingPathComponent(m["text_model"] as! String),
                                        mmproj: Self.dir.appendingPathComponent(m["mmproj"] as! String))
            XCTAssertEqual(model.modelType, "qwen2vl")
            let vision = try XCTUnwrap(model.vision)
            for c in m["cases"] as! [[String: Any]] {
                guard let path = c["image"] as? String else { continue }
                let info = (c["images"] as! [[String: Any]])[0]
                let image = try ImageDecoder.decode(path: Fixtures.url(path).path, limits: ImageLimits())
                let prepared = try vision.prepare(rgb: image.pixels, width: image.width, height: image.height,
                                                  settings: ImageSettings())
                let (nx, ny) = (info["nx"] as! Int, info["ny"] as! Int)
                XCTAssertEqual(prepared.grid, [1, 2 * ny, 2 * nx], "\(name) \(path) grid")
                XCTAssertEqual(prepared.tokenCount, info["tokens"] as? Int, "\(name) \(path) tokens")
                let expected = (info["features"] as! [NSNumber]).map(\.floatValue)
                let features = try vision.encode(prepared)
                let scale = max(1, expected.map(abs).max() ?? 1)
                let d = closeness(features, expected)
                XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-3 * scale, "\(name) \(path) features: \(d)")
                XCTAssertLessThanOrEqual(d.nmse, 5e-8, "\(name) \(path) features: \(d)")
            }
        }
    }

    /// llama.cpp's size rule differs from transformers' smart_resize where Python rounds a half to even:
    /// 70 px is 2.5 patches of 28, C's round() gives 3.
    func testLlamaCppSizeRule() throws {
        let t = try SmartResize.size(height: 70, width: 140, factor: 28, minPixels: 8 * 784, maxPixels: 4096 * 784)
        let l = try SmartResize.llamaCppSize(height: 70, width: 140, factor: 28, minPixels: 8 * 784, maxPixels: 4096 * 784)
        XCTAssertEqual(t.height, 56)
        XCTAssertEqual(l.height, 84)
        XCTAssertEqual(l.width, 140)
        // Fit and pad: a 141x217 image in a 140x224 canvas is scaled by 140/141 to 140x216, 4 black rows
        // above and below.
        let gray = RGBImage(width: 141, height: 217, pixels: [UInt8](repeating: 200, count: 141 * 217 * 3))
        let fitted = SmartResize.llamaCppFit(gray, width: 140, height: 224)
        XCTAssertEqual(fitted.pixels[0], 0)
        XCTAssertEqual(fitted.pixels[(3 * 140) * 3], 0, "row 3 is padding")
        XCTAssertEqual(fitted.pixels[(4 * 140) * 3], 200, "row 4 is the image")
        XCTAssertEqual(fitted.pixels[(219 * 140) * 3], 200, "row 219 is the image")
        XCTAssertEqual(fitted.pixels[(220 * 140) * 3], 0, "row 220 is padding")
    }

    private func copy(_ name: String, to dir: URL, as newName: String? = nil, patch: (String, String)? = nil) throws -> URL {
        var data = try Data(contentsOf: Self.dir.appendingPathComponent(name))
        if let (from, to) = patch {
            let a = Data(from.utf8), b = Data(to.utf8)
            precondition(a.count == b.count)
            let range = try XCTUnwrap(data.range(of: a), "\(from) not in \(name)")
            data.replaceSubrange(range, with: b)
        }
        let url = dir.appendingPathComponent(newName ?? name)
        try data.write(to: url)
        return url
    }

    func testMismatchedFilesAreOneLineErrors() throws {
        _ = try reference()
        let tmp = try Fixtures.temporaryDirectory("mmproj")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let text = try copy("qwen2-vl-f32.gguf", to: tmp)
        func message(_ body: () throws -> Any) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }

        // No mmproj beside it: loads as text only, and says why images will be refused.
        let alone = try LoadedModel(directory: text)
        XCTAssertNil(alone.vision)
        XCTAssertTrue(alone.missingVisionPart?.contains("--mmproj") ?? false, alone.missingVisionPart ?? "nil")

        // A projector llama.cpp has but Squint does not (same length, patched in a copy).
        let qwen3 = try copy("mmproj-qwen2-vl-f32.gguf", to: tmp, as: "other.gguf", patch: ("qwen2vl_merger", "qwen3vl_merger"))
        var m = message { try LoadedModel(gguf: text, mmproj: qwen3) }
        XCTAssertTrue(m.contains("projector 'qwen3vl_merger' is not supported") && m.contains("other.gguf"), m)

        // A tensor missing (renamed in a copy): named, with the file.
        let broken = try copy("mmproj-qwen2-vl-f32.gguf", to: tmp, as: "broken.gguf", patch: ("v.post_ln.weight", "v.post_xx.weight"))
        m = message { try LoadedModel(gguf: text, mmproj: broken) }
        XCTAssertTrue(m.contains("v.post_ln.weight") && m.contains("broken.gguf"), m)

        // The mmproj given as the model, and a text model given as the mmproj.
        m = message { try LoadedModel(directory: Self.dir.appendingPathComponent("mmproj-qwen2-vl-f32.gguf")) }
        XCTAssertTrue(m.contains("mmproj") && m.contains("--model"), m)
        m = message { try LoadedModel(gguf: text, mmproj: text) }
        XCTAssertTrue(m.contains("not a llama.cpp mmproj file"), m)

        // An mmproj with a text-only architecture, and with a safetensors model directory.
        let mmproj = Self.dir.appendingPathComponent("mmproj-qwen2-vl-f32.gguf")
        m = message { try LoadedModel(gguf: Fixtures.url("gguf-models/qwen2-f32.gguf"), mmproj: mmproj) }
        XCTAssertTrue(m.contains("needs a qwen2vl text model"), m)
        m = message { try LoadedModel(directory: Fixtures.url("vl/qwen2-vl-v4"), options: LoadOptions(mmproj: mmproj)) }
        XCTAssertTrue(m.contains("goes with a GGUF model"), m)

        // The Qwen2.5-VL mmproj on the Qwen2-VL text model: same width here, so only the projector decides;
        // the loader accepts it (llama.cpp does too). A missing file is named.
        m = message { try LoadedModel(gguf: text, mmproj: tmp.appendingPathComponent("none.gguf")) }
        XCTAssertTrue(m.contains("none.gguf"), m)
        for error in [m] { XCTAssertFalse(error.contains("\n"), "one line: \(error)") }
    }

    func testMmprojFoundBesideTheModel() throws {
        _ = try reference()
        // Two mmproj files in the fixture folder: the one sharing the model's name wins.
        XCTAssertEqual(try ModelLocator.mmproj(beside: Self.dir.appendingPathComponent("qwen2-vl-f32.gguf"))?.lastPathComponent,
                       "mmproj-qwen2-vl-f32.gguf")
        XCTAssertEqual(try ModelLocator.mmproj(beside: Self.dir.appendingPathComponent("qwen2.5-vl-f32.gguf"))?.lastPathComponent,
                       "mmproj-qwen2.5-vl-f32.gguf")
        let tmp = try Fixtures.temporaryDirectory("mmproj-find")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let model = tmp.appendingPathComponent("Model-Q4_K_M.gguf")
        try Data("GGUF".utf8).write(to: model)
        XCTAssertNil(try ModelLocator.mmproj(beside: model))
        // LM Studio / llama.cpp naming: the only mmproj is taken whatever its name.
        try Data().write(to: tmp.appendingPathComponent("mmproj-x-f16.gguf"))
        XCTAssertEqual(try ModelLocator.mmproj(beside: model)?.lastPathComponent, "mmproj-x-f16.gguf")
        // Two that match equally: an error naming both.
        try Data().write(to: tmp.appendingPathComponent("MMPROJ-y-f16.gguf"))
        XCTAssertThrowsError(try ModelLocator.mmproj(beside: model)) { error in
            XCTAssertTrue("\(error)".contains("--mmproj") && "\(error)".contains("MMPROJ-y-f16.gguf"), "\(error)")
        }
        try Data().write(to: tmp.appendingPathComponent("mmproj-Model-f16.gguf"))
        XCTAssertEqual(try ModelLocator.mmproj(beside: model)?.lastPathComponent, "mmproj-Model-f16.gguf")
    }
}
