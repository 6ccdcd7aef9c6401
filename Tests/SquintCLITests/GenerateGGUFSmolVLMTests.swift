import Foundation
import XCTest
import TestSupport

/// `squint generate --model smolvlm.gguf [--mmproj ...] --image ...` on the tiny SmolVLM GGUF pair
/// (`idefics3` projector): llama.cpp's prompt ids, image token count and greedy tokens
/// (Tests/Fixtures/gguf-vl/smolvlm-reference.json), and one-line errors for a malformed mmproj.
final class GenerateGGUFSmolVLMTests: XCTestCase {
    let dir = Fixtures.url("gguf-vl")

    private func reference(image: String) throws -> [String: Any] {
        try referenceCase("gguf-vl/smolvlm-reference.json", image: image)
    }


    func testGreedyTokensMatchLlamaCpp() throws {
        // Resized by llama.cpp, explicit F16 --mmproj.
        let odd = try reference(image: "gguf-vl/images/odd.png")
        var out = try greedyGenerate(["--model", dir.appendingPathComponent("smolvlm-f32.gguf").path,
                                "--mmproj", dir.appendingPathComponent("mmproj-smolvlm-f16.gguf").path],
                               image: "gguf-vl/images/odd.png", tokens: 20)
        XCTAssertEqual(out["prompt_tokens"] as? [Int], odd["ids"] as? [Int])
        XCTAssertEqual(out["image_tokens"] as? [Int], [117])
        let f16 = odd["mmproj_f16"] as? [String: Any]
        XCTAssertEqual((out["candidates"] as? [[String: Any]])?.first?["tokens"] as? [Int], f16?["greedy_new_ids"] as? [Int])

        // Taken as is, the F32 mmproj found beside the model.
        let portrait = try reference(image: "gguf-vl/images/portrait.png")
        out = try greedyGenerate(["--model", dir.appendingPathComponent("smolvlm-f32.gguf").path],
                           image: "gguf-vl/images/portrait.png", tokens: 20)
        XCTAssertEqual(out["prompt_tokens"] as? [Int], portrait["ids"] as? [Int])
        XCTAssertEqual(out["image_tokens"] as? [Int], [117])
        XCTAssertEqual((out["candidates"] as? [[String: Any]])?.first?["tokens"] as? [Int], portrait["greedy_new_ids"] as? [Int])
    }

    func testMalformedMmprojIsAOneLineError() throws {
        _ = try reference(image: "gguf-vl/images/portrait.png")
        let tmp = try Fixtures.temporaryDirectory("cli-smolvlm")
        defer { try? FileManager.default.removeItem(at: tmp) }
        var data = try Data(contentsOf: dir.appendingPathComponent("mmproj-smolvlm-f16.gguf"))
        let from = Data("mm.model.fc.weight".utf8), to = Data("mm.model.fx.weight".utf8)
        let range = try XCTUnwrap(data.range(of: from))
        data.replaceSubrange(range, with: to)
        let broken = tmp.appendingPathComponent("mmproj-broken.gguf")
        try data.write(to: broken)
        let truncated = tmp.appendingPathComponent("mmproj-cut.gguf")
        try data.prefix(4096).write(to: truncated)
        let wrong = dir.appendingPathComponent("mmproj-qwen2-vl-f32.gguf")
        for (mmproj, expected) in [(broken, "mm.model.fc.weight"), (truncated, "mmproj-cut.gguf"), (wrong, "needs a qwen2vl text model")] {
            let r = try BinaryRunner.run(["generate", "--model", dir.appendingPathComponent("smolvlm-f32.gguf").path,
                                          "--mmproj", mmproj.path, "--image", Fixtures.url("gguf-vl/images/portrait.png").path,
                                          "--prompt", "hi", "--max-tokens", "1"])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(expected), r.stderr)
        }
    }
}
