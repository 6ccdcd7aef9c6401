import Foundation
import XCTest
import TestSupport

/// `squint generate --image` on the Qwen2-VL fixture: the same ids, image token counts, greedy tokens and
/// logits as transformers (and hence as the library path, which VisionEngineTests checks).
final class GenerateImageTests: XCTestCase {
    func testImageGenerationMatchesTransformers() throws {
        let vl = Fixtures.url("vl")
        let ref = try Fixtures.json("vl/qwen2-vl-v4/reference.json") as! [String: Any]
        let c = (ref["cases"] as! [[String: Any]]).first { $0["name"] as? String == "one_jpeg" }!
        let dir = try Fixtures.temporaryDirectory("cli-vl")
        defer { try? FileManager.default.removeItem(at: dir) }
        let npy = dir.appendingPathComponent("logits.npy")
        let r = try BinaryRunner.run([
            "generate", "--model", vl.appendingPathComponent("qwen2-vl-v4").path,
            "--image", vl.appendingPathComponent("images/photo.jpg").path, "--prompt", "Describe this image.",
            "--temp", "0", "--max-tokens", "20", "--ignore-eos", "--json", "--dump-logits", npy.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any], r.stdout)
        XCTAssertEqual(out["prompt_tokens"] as? [Int], c["input_ids"] as? [Int])
        XCTAssertEqual(out["image_tokens"] as? [Int], [54])
        let cand = try XCTUnwrap((out["candidates"] as? [[String: Any]])?.first)
        XCTAssertEqual(cand["tokens"] as? [Int], c["greedy_new_ids"] as? [Int])
        let timings = try XCTUnwrap(out["timings"] as? [String: Any])
        XCTAssertGreaterThan(timings["image_encode_ms"] as? Double ?? 0, 0)
        let logits = try NPYArray(url: npy)
        let first = (c["first_step_logits"] as! [NSNumber]).map(\.floatValue)
        let d = closeness(logits.row(0), first)
        XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-3 * first.map(abs).max()!, "\(d)")

        // Pixel budget overrides change the image's token cost.
        let small = try BinaryRunner.run([
            "generate", "--model", vl.appendingPathComponent("qwen2-vl-v4").path,
            "--image", vl.appendingPathComponent("images/photo.jpg").path, "--prompt", "Hi",
            "--max-pixels", "12544", "--max-tokens", "1", "--json"])
        XCTAssertEqual(small.status, 0, small.stderr)
        let so = try XCTUnwrap(JSONSerialization.jsonObject(with: small.stdoutData) as? [String: Any])
        let tokens = try XCTUnwrap((so["image_tokens"] as? [Int])?.first)
        XCTAssertLessThan(tokens, 54)
        XCTAssertLessThanOrEqual(tokens * 28 * 28, 12544)
    }

    func testBrokenImagesAreOneLineErrors() throws {
        let model = Fixtures.url("vl/qwen2-vl-v4").path
        let dir = try Fixtures.temporaryDirectory("cli-badimg")
        defer { try? FileManager.default.removeItem(at: dir) }
        // A PNG whose header claims 30000x30000 is refused before any allocation.
        let huge = Fixtures.url("images/huge_header.png").path
        let hr = try BinaryRunner.run(["generate", "--model", model, "--image", huge, "--prompt", "hi"])
        XCTAssertEqual(hr.status, 1)
        XCTAssertTrue(hr.stderr.contains("30000") && hr.stderr.contains(huge), hr.stderr)
        let garbage = dir.appendingPathComponent("garbage.png")
        try Data("not an image at all".utf8).write(to: garbage)
        for path in [garbage.path, dir.appendingPathComponent("nope.jpg").path] {
            let r = try BinaryRunner.run(["generate", "--model", model, "--image", path, "--prompt", "hi"])
            XCTAssertEqual(r.status, 1)
            XCTAssertTrue(r.stderr.hasPrefix("squint: error: ") && r.stderr.contains(path), r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
    }
}
