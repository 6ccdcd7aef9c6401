import Foundation
import XCTest
import TestSupport

/// The bundled demo model (Assets/demo-model) gives transformers' greedy replies on its sample pictures.
final class DemoModelTests: XCTestCase {
    func testGreedyRepliesMatchTransformers() throws {
        let model = Fixtures.repoRoot.appendingPathComponent("Assets/demo-model")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: model.path), "no demo model")
        let ref = try Fixtures.json("demo/reference.json") as! [String: Any]
        for c in ref["cases"] as! [[String: Any]] {
            let image = c["image"] as! String
            let path = image.hasPrefix("/") ? image : Fixtures.repoRoot.appendingPathComponent(image).path
            let expected = c["greedy_new_ids"] as! [Int]
            let r = try BinaryRunner.run(["generate", "--model", model.path, "--image", path, "--prompt", c["question"] as! String,
                                          "--temp", "0", "--max-tokens", "\(expected.count)", "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let out = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
            XCTAssertEqual(out["prompt_tokens"] as? [Int], c["input_ids"] as? [Int], "\(c["question"]!)")
            let tokens = (out["candidates"] as? [[String: Any]])?.first?["tokens"] as? [Int]
            XCTAssertEqual(tokens, expected, "\(c["question"]!)")
        }
    }
}
