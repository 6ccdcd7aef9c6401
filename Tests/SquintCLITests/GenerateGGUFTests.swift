import Foundation
import XCTest
import TestSupport

/// `squint generate --model FILE.gguf`: the same prompt ids and greedy tokens as llama.cpp on that file.
final class GenerateGGUFTests: XCTestCase {
    func testGenerateFromGGUFMatchesLlamaCpp() throws {
        let model = Fixtures.url("gguf-models/llama-f32.gguf").path
        try XCTSkipUnless(FileManager.default.fileExists(atPath: model), "fixture missing")
        let ref = try Fixtures.json("gguf-models/reference.json") as! [String: Any]
        let file = (ref["files"] as! [String: Any])["llama-f32.gguf"] as! [String: Any]
        let raw = file["raw"] as! [String: Any]
        let greedy = raw["greedy_new_ids"] as! [Int]
        let r = try BinaryRunner.run(["generate", "--model", model, "--raw", "--prompt", raw["text"] as! String,
                                      "--temp", "0", "--max-tokens", "\(greedy.count)", "--ignore-eos", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any], r.stdout)
        XCTAssertEqual(out["prompt_tokens"] as? [Int], raw["ids"] as? [Int])
        let cands = try XCTUnwrap(out["candidates"] as? [[String: Any]])
        XCTAssertEqual(cands.first?["tokens"] as? [Int], greedy)
    }
}
