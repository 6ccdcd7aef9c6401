import Foundation
import XCTest
import TestSupport

/// `squint quantize`: the file it writes is the committed one llama.cpp's reference was recorded on, and
/// `squint generate` on it gives llama.cpp's greedy tokens; bad input is a one-line error.
final class QuantizeCommandTests: XCTestCase {
    /// A file in a directory of its own: a GGUF model picks up any *mmproj* .gguf beside it.
    private func temp(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("squint-quantize-cli-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    func testQuantizeThenGenerateMatchesLlamaCpp() throws {
        let committed = Fixtures.url("gguf-quantize/qwen2-q8_0.gguf")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: committed.path), "fixture missing")
        let out = temp("qwen2-q8_0.gguf")
        let q = try BinaryRunner.run(["quantize", "--model", Fixtures.url("models/qwen2-v4").path, "--out", out, "--type", "q8_0"])
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertTrue(q.stdout.contains("13 Q8_0"), q.stdout)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), try Data(contentsOf: committed))

        let ref = try Fixtures.json("gguf-quantize/reference.json") as! [String: Any]
        let raw = ((ref["files"] as! [String: Any])["qwen2-q8_0.gguf"] as! [String: Any])["raw"] as! [String: Any]
        let greedy = raw["dequantized_greedy_new_ids"] as! [Int]
        let r = try BinaryRunner.run(["generate", "--model", out, "--raw", "--prompt", raw["text"] as! String,
                                      "--temp", "0", "--max-tokens", "\(greedy.count)", "--ignore-eos", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any], r.stdout)
        XCTAssertEqual(json["prompt_tokens"] as? [Int], raw["ids"] as? [Int])
        XCTAssertEqual((json["candidates"] as? [[String: Any]])?.first?["tokens"] as? [Int], greedy)
    }

    func testBadInputIsAOneLineError() throws {
        let model = Fixtures.url("models/qwen2-v4").path
        let cases: [([String], String)] = [
            (["quantize", "--model", model, "--out", temp("x.gguf"), "--type", "q5_k"], "--type q5_k is not supported"),
            (["quantize", "--model", Fixtures.url("vl/idefics3-v4").path, "--out", temp("y.gguf")], "idefics3"),
            (["quantize", "--model", Fixtures.url("gguf-models/qwen2-f32.gguf").path, "--out", temp("z.gguf")], "not a model directory"),
            (["quantize", "--model", model, "--out", "/nonexistent-dir/x.gguf"], "/nonexistent-dir/x.gguf"),
            (["quantize", "--model", model, "--out", temp("w.gguf"), "--mmproj-out", temp("mm.gguf")], "qwen2_vl"),
        ]
        for (args, needle) in cases {
            let r = try BinaryRunner.run(args)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.hasPrefix("squint: error: ") && r.stderr.contains(needle), r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
    }
}
