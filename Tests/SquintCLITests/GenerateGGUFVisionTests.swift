import Foundation
import XCTest
import TestSupport

/// `squint generate --model X.gguf [--mmproj Y.gguf] --image ...` on the Qwen2-VL / Qwen2.5-VL GGUF pairs:
/// the same prompt ids, image token count and greedy tokens as llama.cpp on those files
/// (Tests/Fixtures/gguf-vl/reference.json), and one-line errors when the halves do not fit.
final class GenerateGGUFVisionTests: XCTestCase {
    let dir = Fixtures.url("gguf-vl")

    private func reference(_ model: String, image: String) throws -> [String: Any] {
        try referenceCase("gguf-vl/reference.json", image: image) {
            (($0["models"] as? [String: Any])?[model] as? [String: Any])?["cases"]
        }
    }


    func testGreedyTokensMatchLlamaCpp() throws {
        // Explicit --mmproj, on the image llama.cpp resizes (fit and pad).
        let odd = try reference("qwen2-vl", image: "gguf-vl/images/odd.png")
        let greedy = odd["greedy_new_ids"] as! [Int]
        var out = try greedyGenerate(["--model", dir.appendingPathComponent("qwen2-vl-f32.gguf").path,
                                "--mmproj", dir.appendingPathComponent("mmproj-qwen2-vl-f32.gguf").path],
                               image: "gguf-vl/images/odd.png", tokens: greedy.count)
        XCTAssertEqual(out["prompt_tokens"] as? [Int], odd["ids"] as? [Int])
        XCTAssertEqual(out["image_tokens"] as? [Int], [40])
        XCTAssertEqual((out["candidates"] as? [[String: Any]])?.first?["tokens"] as? [Int], greedy)

        // The mmproj found beside the model; Qwen2.5-VL (window attention) on the image taken as is.
        let crop = try reference("qwen2.5-vl", image: "gguf-vl/images/crop.png")
        out = try greedyGenerate(["--model", dir.appendingPathComponent("qwen2.5-vl-f32.gguf").path],
                           image: "gguf-vl/images/crop.png", tokens: 20)
        XCTAssertEqual(out["prompt_tokens"] as? [Int], crop["ids"] as? [Int])
        XCTAssertEqual(out["image_tokens"] as? [Int], [12])
        XCTAssertEqual((out["candidates"] as? [[String: Any]])?.first?["tokens"] as? [Int], crop["greedy_new_ids"] as? [Int])
    }

    func testMissingOrWrongMmprojIsAOneLineError() throws {
        _ = try reference("qwen2-vl", image: "gguf-vl/images/crop.png")
        let tmp = try Fixtures.temporaryDirectory("cli-mmproj")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let text = tmp.appendingPathComponent("qwen2-vl-f32.gguf")
        try FileManager.default.copyItem(at: dir.appendingPathComponent("qwen2-vl-f32.gguf"), to: text)
        let image = Fixtures.url("gguf-vl/images/crop.png").path
        func run(_ extra: [String]) throws -> String {
            let r = try BinaryRunner.run(["generate", "--model", text.path] + extra + ["--image", image, "--prompt", "hi", "--max-tokens", "1"])
            XCTAssertNotEqual(r.status, 0)
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, r.stderr)
            return r.stderr
        }
        // No mmproj beside the text model.
        var err = try run([])
        XCTAssertTrue(err.contains("--mmproj") && err.contains("qwen2-vl-f32.gguf"), err)
        // A text model given as the mmproj.
        err = try run(["--mmproj", Fixtures.url("gguf-models/qwen2-f32.gguf").path])
        XCTAssertTrue(err.contains("not a llama.cpp mmproj file"), err)
        // No such file.
        err = try run(["--mmproj", tmp.appendingPathComponent("nope.gguf").path])
        XCTAssertTrue(err.contains("nope.gguf"), err)
    }

    /// `squint bench --mmproj` encodes the image with the given mmproj: llama.cpp's token count for it;
    /// a missing mmproj file is a one-line error.
    func testBenchTakesAnMmproj() throws {
        let crop = try reference("qwen2-vl", image: "gguf-vl/images/crop.png")
        let tokens = ((crop["images"] as! [[String: Any]])[0]["tokens"] as! Int)
        let model = dir.appendingPathComponent("qwen2-vl-f32.gguf").path
        let r = try BinaryRunner.run(["bench", "--model", model, "--mmproj", dir.appendingPathComponent("mmproj-qwen2-vl-f32.gguf").path,
                                      "--image", Fixtures.url("gguf-vl/images/crop.png").path, "--prompt-tokens", "8",
                                      "--gen-tokens", "2", "--batch", "1", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any], r.stdout)
        XCTAssertEqual(out["image_tokens"] as? Int, tokens)
        XCTAssertNotNil(out["peak_rss_bytes"])
        let bad = try BinaryRunner.run(["bench", "--model", model, "--mmproj", "/nonexistent/mmproj.gguf", "--prompt-tokens", "8"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("mmproj.gguf"), bad.stderr)
    }
}
