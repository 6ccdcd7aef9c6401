import Foundation
import XCTest
import TestSupport

/// What the GGUF vision CLI tests share: one greedy `squint generate --json` run on a fixture picture, and
/// a case of a llama.cpp reference file picked by its picture.
extension XCTestCase {
    func greedyGenerate(_ args: [String], image: String, tokens: Int) throws -> [String: Any] {
        let r = try BinaryRunner.run(["generate"] + args + [
            "--image", Fixtures.url(image).path, "--prompt", "Describe the picture.",
            "--temp", "0", "--max-tokens", "\(tokens)", "--ignore-eos", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any], r.stdout)
    }

    /// The case for `image` among `cases`, skipping the test when the reference file is missing.
    func referenceCase(_ file: String, image: String, cases: ([String: Any]) -> Any? = { $0["cases"] }) throws -> [String: Any] {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: Fixtures.url(file).path), "fixture missing")
        let ref = try XCTUnwrap(try Fixtures.json(file) as? [String: Any])
        let all = try XCTUnwrap(cases(ref) as? [[String: Any]], "\(file): no cases")
        return try XCTUnwrap(all.first { $0["image"] as? String == image }, "\(file): no case for \(image)")
    }
}
