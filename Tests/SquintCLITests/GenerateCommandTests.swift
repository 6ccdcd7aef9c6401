import Foundation
import XCTest
import TestSupport

/// `squint generate` as scripts use it: the real binary, its JSON contract, its .npy dump, its errors.
final class GenerateCommandTests: XCTestCase {
    let model = Fixtures.url("models/qwen2-v4").path

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: model), "fixture missing")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: BinaryRunner.squintURL.path),
                      "squint binary not built at \(BinaryRunner.squintURL.path)")
    }

    private func json(_ r: BinaryRunner.Result) throws -> [String: Any] {
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any], r.stdout)
    }

    func testMessagesJSONAndLogitsDumpMatchTransformers() throws {
        let ref = try Fixtures.json("models/qwen2-v4/reference.json") as! [String: Any]
        let chat = ref["chat"] as! [String: Any]
        let dir = try Fixtures.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let messages = dir.appendingPathComponent("messages.json")
        try JSONSerialization.data(withJSONObject: chat["messages"]!).write(to: messages)
        let npy = dir.appendingPathComponent("logits.npy")
        let r = try BinaryRunner.run(["generate", "--model", model, "--messages", messages.path, "--temp", "0",
                                      "--max-tokens", "32", "--ignore-eos", "--json", "--dump-logits", npy.path])
        let out = try json(r)
        XCTAssertEqual(out["prompt_tokens"] as? [Int], chat["ids"] as? [Int])
        let cands = try XCTUnwrap(out["candidates"] as? [[String: Any]])
        XCTAssertEqual(cands.count, 1)
        XCTAssertEqual(cands[0]["tokens"] as? [Int], chat["greedy_new_ids"] as? [Int])
        XCTAssertEqual(cands[0]["finish_reason"] as? String, "length")
        XCTAssertEqual((cands[0]["temperatures"] as? [Double])?.count, 32)
        XCTAssertNotNil(cands[0]["text"] as? String)
        let timings = try XCTUnwrap(out["timings"] as? [String: Any])
        for key in ["load_ms", "image_encode_ms", "prefill_ms", "decode_ms", "prefill_tokens_per_s", "decode_tokens_per_s"] {
            XCTAssertNotNil(timings[key] as? Double, "timings.\(key)")
        }
        let logits = try NPYArray(url: npy)
        XCTAssertEqual(logits.shape, [32, 1280])
        let steps = try NPYArray(url: Fixtures.url("models/qwen2-v4/chat_step_logits.npy"))
        let scale = steps.values.map(abs).max()!
        for step in [0, steps.shape[0] - 1] {
            let d = closeness(logits.row(step), steps.row(step))
            XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-3 * scale, "step \(step): \(d)")
        }
    }

    func testRawPromptAndSeededSamplingIsReproducible() throws {
        let ref = try Fixtures.json("models/qwen2-v4/reference.json") as! [String: Any]
        let raw = ref["raw"] as! [String: Any]
        let args = ["generate", "--model", model, "--raw", "--prompt", raw["text"] as! String, "--temp", "0.9",
                    "--seed", "7", "--max-tokens", "8", "--n", "2", "--json", "--ignore-eos"]
        let a = try json(BinaryRunner.run(args)), b = try json(BinaryRunner.run(args))
        XCTAssertEqual(a["prompt_tokens"] as? [Int], raw["ids"] as? [Int])
        let ca = try XCTUnwrap(a["candidates"] as? [[String: Any]]), cb = try XCTUnwrap(b["candidates"] as? [[String: Any]])
        XCTAssertEqual(ca.count, 2)
        XCTAssertEqual(ca.map { $0["tokens"] as! [Int] }, cb.map { $0["tokens"] as! [Int] }, "same seed, same tokens")
        XCTAssertEqual(a["seed"] as? Int, 7)
    }

    func testPlainOutputStreamsText() throws {
        let r = try BinaryRunner.run(["generate", "--model", model, "--prompt", "hello", "--temp", "0", "--max-tokens", "5"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.isEmpty)
    }

    /// Several candidates are decoded in lockstep; the plain output still prints each one whole, in order,
    /// separated by "---" lines (it once interleaved their tokens), the same texts as --json gives.
    func testPlainOutputPrintsEachCandidateWhole() throws {
        let ref = try Fixtures.json("demo/reference.json") as! [String: Any]
        let c = (ref["cases"] as! [[String: Any]])[1]
        let image = Fixtures.repoRoot.appendingPathComponent(c["image"] as! String).path
        let demo = Fixtures.repoRoot.appendingPathComponent("Assets/demo-model").path
        let args = ["generate", "--model", demo, "--image", image, "--prompt", c["question"] as! String,
                    "--temp", "1.2", "--seed", "3", "--max-tokens", "16", "--n", "3"]
        let plain = try BinaryRunner.run(args)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let texts = try XCTUnwrap(try json(BinaryRunner.run(args + ["--json"]))["candidates"] as? [[String: Any]])
            .map { $0["text"] as! String }
        XCTAssertEqual(texts.count, 3)
        XCTAssertEqual(plain.stdout, texts.map { $0 + "\n" }.joined(separator: "---\n"))
    }

    func testBadInputsGiveOneLineErrors() throws {
        let missing = try BinaryRunner.run(["generate", "--model", "/nonexistent/model", "--prompt", "hi"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.hasPrefix("squint: error: ") && missing.stderr.contains("/nonexistent/model"), missing.stderr)
        XCTAssertEqual(missing.stderr.split(separator: "\n").count, 1, missing.stderr)

        let image = try BinaryRunner.run(["generate", "--model", model, "--prompt", "hi", "--image", model + "/config.json"])
        XCTAssertEqual(image.status, 1)
        XCTAssertTrue(image.stderr.contains("images cannot be attached"), image.stderr)

        let noPrompt = try BinaryRunner.run(["generate", "--model", model])
        XCTAssertNotEqual(noPrompt.status, 0)
        XCTAssertTrue(noPrompt.stderr.contains("--prompt"), noPrompt.stderr)

        let badTemp = try BinaryRunner.run(["generate", "--model", model, "--prompt", "hi", "--temp=-1"])
        XCTAssertEqual(badTemp.status, 1)
        XCTAssertTrue(badTemp.stderr.lowercased().contains("temperature"), badTemp.stderr)
    }
}

extension GenerateCommandTests {
    func testModelsListsTheHubCacheAndGenerateTakesARepoID() throws {
        let root = try Fixtures.temporaryDirectory("hubcli")
        defer { try? FileManager.default.removeItem(at: root) }
        let entry = root.appendingPathComponent("models--Squint--Tiny/snapshots/r1")
        try FileManager.default.createDirectory(at: entry.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: entry, withDestinationURL: URL(fileURLWithPath: model))
        let env = ["HF_HUB_CACHE": root.path]
        let list = try BinaryRunner.run(["models", "--json"], environment: env)
        XCTAssertEqual(list.status, 0, list.stderr)
        let models = try XCTUnwrap(JSONSerialization.jsonObject(with: list.stdoutData) as? [[String: String]])
        XCTAssertEqual(models.map { $0["id"] }, ["Squint/Tiny"])
        let gen = try BinaryRunner.run(["generate", "--model", "Squint/Tiny", "--prompt", "hi", "--max-tokens", "2", "--json"],
                                       environment: env)
        XCTAssertEqual(gen.status, 0, gen.stderr)
        let missing = try BinaryRunner.run(["generate", "--model", "Squint/Absent", "--prompt", "hi"], environment: env)
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("Hugging Face cache"), missing.stderr)
    }
}

extension GenerateCommandTests {
    func testBrokenMessagesFilesAreNamed() throws {
        let dir = try Fixtures.temporaryDirectory("msgs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(Data, String)] = [
            (Data([0x5B, 0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D, 0x5D]), "not UTF-8"),   // [{"\xff\xfe"}]
            (Data("not json".utf8), "not valid JSON"),
            (Data(#"{"role": "user"}"#.utf8), "expected a JSON list"),
            (Data(#"[{"content": "hi"}]"#.utf8), "\"role\""),
            (Data(#"[{"role": "user", "content": [{"type": "video"}]}]"#.utf8), "unsupported content type"),
        ]
        for (i, (data, expected)) in cases.enumerated() {
            let file = dir.appendingPathComponent("m\(i).json")
            try data.write(to: file)
            let r = try BinaryRunner.run(["generate", "--model", model, "--messages", file.path])
            XCTAssertEqual(r.status, 1, "case \(i)")
            XCTAssertTrue(r.stderr.contains(file.path) && r.stderr.contains(expected), "case \(i): \(r.stderr)")
        }
    }
}
