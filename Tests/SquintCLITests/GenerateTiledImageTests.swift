import Foundation
import XCTest
import TestSupport

/// `squint generate --image` on the LLaVA-OneVision and SmolVLM fixtures: ids, image token counts and greedy
/// tokens as transformers gives them, and the family budget flags changing the image's token cost.
final class GenerateTiledImageTests: XCTestCase {
    private func run(_ args: [String]) throws -> [String: Any] {
        let r = try BinaryRunner.run(["generate"] + args + ["--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any], r.stdout)
    }

    func testLlavaOneVisionImageGenerationMatchesTransformers() throws {
        let vl = Fixtures.url("vl")
        let model = vl.appendingPathComponent("llava-ov-v5").path
        let photo = vl.appendingPathComponent("images/photo.jpg").path
        let ref = try Fixtures.json("vl/llava-ov-v5/reference.json") as! [String: Any]
        let c = (ref["cases"] as! [[String: Any]]).first { $0["name"] as? String == "one_jpeg" }!
        let want = c["greedy_new_ids"] as! [Int]
        let out = try run(["--model", model, "--image", photo, "--prompt", "Describe this image.", "--temp", "0",
                           "--max-tokens", "\(want.count)", "--ignore-eos"])
        XCTAssertEqual(out["prompt_tokens"] as? [Int], c["input_ids"] as? [Int])
        XCTAssertEqual(out["image_tokens"] as? [Int], [366])
        XCTAssertEqual((out["candidates"] as? [[String: Any]])?.first?["tokens"] as? [Int], want)

        // --max-tiles 4: photo.jpg takes the 2 x 2 grid (transformers' count for it: 144).
        let small = try run(["--model", model, "--image", photo, "--prompt", "Hi", "--max-tiles", "4", "--max-tokens", "1"])
        XCTAssertEqual(small["image_tokens"] as? [Int], [144])
    }

    func testSmolVLMImageGenerationMatchesTransformers() throws {
        let vl = Fixtures.url("vl")
        let model = vl.appendingPathComponent("smolvlm-v5").path
        let photo = vl.appendingPathComponent("images/photo.jpg").path
        let ref = try Fixtures.json("vl/smolvlm-v5/reference.json") as! [String: Any]
        let c = (ref["cases"] as! [[String: Any]]).first { $0["name"] as? String == "one_jpeg" }!
        let want = c["greedy_new_ids"] as! [Int]
        let out = try run(["--model", model, "--image", photo, "--prompt", "Describe this image.", "--temp", "0",
                           "--max-tokens", "\(want.count)", "--ignore-eos"])
        XCTAssertEqual(out["prompt_tokens"] as? [Int], c["input_ids"] as? [Int])
        XCTAssertEqual(out["image_tokens"] as? [Int], [117])
        XCTAssertEqual((out["candidates"] as? [[String: Any]])?.first?["tokens"] as? [Int], want)

        // --longest-edge 192: 2 x 2 tiles + global (45, transformers' sizes for it); --no-split: the global tile.
        let smaller = try run(["--model", model, "--image", photo, "--prompt", "Hi", "--longest-edge", "192", "--max-tokens", "1"])
        XCTAssertEqual(smaller["image_tokens"] as? [Int], [45])
        let global = try run(["--model", model, "--image", photo, "--prompt", "Hi", "--no-split", "--max-tokens", "1"])
        XCTAssertEqual(global["image_tokens"] as? [Int], [9])
    }
}
