import Foundation
import XCTest
import TestSupport

/// `squint generate --model minicpmv.gguf [--mmproj ...] --image ...` on the tiny MiniCPM-V 2.6 GGUF pair:
/// llama.cpp's prompt ids, image token count and greedy tokens (Tests/Fixtures/gguf-minicpmv/reference.json),
/// and one-line errors for a malformed mmproj.
final class GenerateGGUFMiniCPMVTests: XCTestCase {
    let dir = Fixtures.url("gguf-minicpmv")

    private func reference(image: String) throws -> [String: Any] {
        try referenceCase("gguf-minicpmv/reference.json", image: image)
    }


    func testGreedyTokensMatchLlamaCpp() throws {
        // Sliced 3x1, explicit --mmproj.
        let wide = try reference(image: "gguf-minicpmv/images/wide.png")
        var out = try greedyGenerate(["--model", dir.appendingPathComponent("minicpmv-f32.gguf").path,
                                "--mmproj", dir.appendingPathComponent("mmproj-minicpmv-f16.gguf").path],
                               image: "gguf-minicpmv/images/wide.png", tokens: 20)
        XCTAssertEqual(out["prompt_tokens"] as? [Int], wide["ids"] as? [Int])
        XCTAssertEqual(out["image_tokens"] as? [Int], [256])
        XCTAssertEqual((out["candidates"] as? [[String: Any]])?.first?["tokens"] as? [Int], wide["greedy_new_ids"] as? [Int])

        // One overview, the mmproj found beside the model.
        let small = try reference(image: "gguf-minicpmv/images/small.png")
        out = try greedyGenerate(["--model", dir.appendingPathComponent("minicpmv-f32.gguf").path],
                           image: "gguf-minicpmv/images/small.png", tokens: 20)
        XCTAssertEqual(out["prompt_tokens"] as? [Int], small["ids"] as? [Int])
        XCTAssertEqual(out["image_tokens"] as? [Int], [64])
        XCTAssertEqual((out["candidates"] as? [[String: Any]])?.first?["tokens"] as? [Int], small["greedy_new_ids"] as? [Int])
    }

    func testMalformedMmprojIsAOneLineError() throws {
        _ = try reference(image: "gguf-minicpmv/images/small.png")
        let tmp = try Fixtures.temporaryDirectory("cli-minicpmv")
        defer { try? FileManager.default.removeItem(at: tmp) }
        var data = try Data(contentsOf: dir.appendingPathComponent("mmproj-minicpmv-f16.gguf"))
        let from = Data("resampler.proj.weight".utf8), to = Data("resampler.prox.weight".utf8)
        let range = try XCTUnwrap(data.range(of: from))
        data.replaceSubrange(range, with: to)
        let broken = tmp.appendingPathComponent("mmproj-broken.gguf")
        try data.write(to: broken)
        let truncated = tmp.appendingPathComponent("mmproj-cut.gguf")
        try data.prefix(4096).write(to: truncated)
        for (mmproj, expected) in [(broken, "resampler.proj.weight"), (truncated, "mmproj-cut.gguf")] {
            let r = try BinaryRunner.run(["generate", "--model", dir.appendingPathComponent("minicpmv-f32.gguf").path,
                                          "--mmproj", mmproj.path, "--image", Fixtures.url("gguf-minicpmv/images/small.png").path,
                                          "--prompt", "hi", "--max-tokens", "1"])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(expected), r.stderr)
        }
    }
}
