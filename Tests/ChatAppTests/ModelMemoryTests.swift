@testable import ChatApp
import Foundation
import Sampling
import TestSupport
import XCTest

/// Sessions and the config remember the GGUF vision projector (`--mmproj`) with the model, and
/// files written before those fields existed still load.
final class ModelMemoryTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try Fixtures.temporaryDirectory("squint-model-memory")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    private func touch(_ name: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data("x".utf8).write(to: url)
        return url.path
    }

    func testSessionRoundTripsModelPathAndMmproj() throws {
        let store = SessionStore(directory: dir.appendingPathComponent("sessions"))
        var s = makeState()
        s.modelSource = ModelChoice(model: "/models/Qwen2-VL-2B-Q4_K_M.gguf", mmproj: "/models/mmproj-Qwen2-VL-2B-f16.gguf")
        s.messages = [Message(role: .user, text: "hello")]
        try store.save(s.savedSession(created: Date(timeIntervalSince1970: 1000), now: Date(timeIntervalSince1970: 2000)))

        let loaded = try store.load(s.sessionID)
        XCTAssertEqual(loaded.model, "tiny-qwen")   // the display name keeps its key and meaning
        XCTAssertEqual(loaded.modelPath, "/models/Qwen2-VL-2B-Q4_K_M.gguf")
        XCTAssertEqual(loaded.mmproj, "/models/mmproj-Qwen2-VL-2B-f16.gguf")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: store.directory.appendingPathComponent("\(s.sessionID).json"))) as? [String: Any])
        XCTAssertEqual(json["model"] as? String, "tiny-qwen")
        XCTAssertEqual(json["modelPath"] as? String, "/models/Qwen2-VL-2B-Q4_K_M.gguf")
        XCTAssertEqual(json["mmproj"] as? String, "/models/mmproj-Qwen2-VL-2B-f16.gguf")

        // `--resume` with no flags reopens that model with that projector.
        let choice = ModelChoice.resolve(model: nil, mmproj: nil, config: ChatConfig(), saved: loaded, cwd: dir.path)
        XCTAssertEqual(choice, ModelChoice(model: "/models/Qwen2-VL-2B-Q4_K_M.gguf", mmproj: "/models/mmproj-Qwen2-VL-2B-f16.gguf"))

        // A session without a projector writes no key for it.
        s.modelSource = ModelChoice(model: "/models/qwen2-0.5b.gguf")
        s.sessionID = "20261125-000000-0002"
        try store.save(s.savedSession(created: Date(), now: Date()))
        let text = try String(contentsOf: store.directory.appendingPathComponent("20261125-000000-0002.json"), encoding: .utf8)
        XCTAssertFalse(text.contains("mmproj"), text)
        XCTAssertNil(try store.load("20261125-000000-0002").mmproj)
    }

    /// A session file as version 1 wrote it before `modelPath`/`mmproj`: loads, lists, resumes.
    func testSessionWithoutTheNewFieldsStillLoads() throws {
        let store = SessionStore(directory: dir)
        let old = #"""
        {
          "created" : "2026-11-01T10:00:00Z",
          "id" : "20261101-100000-00aa",
          "maxTokens" : 300,
          "messages" : [
            { "candidates" : [], "role" : "user", "status" : "complete", "temperatures" : [], "text" : "old question" },
            { "candidates" : [], "role" : "assistant", "status" : "complete", "temperatures" : [0.7], "text" : "old answer" }
          ],
          "model" : "Qwen2-VL-2B-Instruct",
          "settings" : { "temperature" : 0.5 },
          "updated" : "2026-11-01T10:05:00Z",
          "version" : 1
        }
        """#
        try Data(old.utf8).write(to: dir.appendingPathComponent("20261101-100000-00aa.json"))
        let loaded = try store.load("20261101-100000-00aa")
        XCTAssertEqual(loaded.model, "Qwen2-VL-2B-Instruct")
        XCTAssertNil(loaded.modelPath)
        XCTAssertNil(loaded.mmproj)
        XCTAssertEqual(loaded.maxTokens, 300)
        XCTAssertEqual(loaded.settings.temperature, 0.5)
        XCTAssertEqual(store.list().map(\.id), ["20261101-100000-00aa"])

        // Resuming it falls back to the config's model (and its mmproj), as before these fields.
        let config = ChatConfig(model: "/m/a.gguf", mmproj: "/m/mmproj-a.gguf")
        XCTAssertEqual(ModelChoice.resolve(model: nil, mmproj: nil, config: config, saved: loaded, cwd: dir.path),
                       ModelChoice(model: "/m/a.gguf", mmproj: "/m/mmproj-a.gguf"))
        XCTAssertNil(ModelChoice.resolve(model: nil, mmproj: nil, config: ChatConfig(), saved: loaded, cwd: dir.path))

        // Restoring it in the UI keeps the loaded model's source; the next save records it.
        var state = makeState()
        state.modelSource = ModelChoice(model: "/m/b.gguf", mmproj: "/m/mmproj-b.gguf")
        state.restore(loaded)
        XCTAssertEqual(state.messages.map(\.text), ["old question", "old answer"])
        let resaved = state.savedSession(created: loaded.created)
        XCTAssertEqual(resaved.modelPath, "/m/b.gguf")
        XCTAssertEqual(resaved.mmproj, "/m/mmproj-b.gguf")
    }

    func testConfigMmprojLoadsAndOldConfigsStillDo() throws {
        let url = dir.appendingPathComponent("chat.json")
        try Data(#"{"model": "~/models/a.gguf", "mmproj": "~/models/mmproj-a.gguf", "theme": "light"}"#.utf8).write(to: url)
        let c = try ChatConfig.load(url)
        XCTAssertEqual(c.model, "~/models/a.gguf")
        XCTAssertEqual(c.mmproj, "~/models/mmproj-a.gguf")
        XCTAssertEqual(c.theme, "light")
        try Data(#"{"model": "/models/a.gguf", "maxTokens": 64}"#.utf8).write(to: url)
        let old = try ChatConfig.load(url)
        XCTAssertEqual(old, ChatConfig(model: "/models/a.gguf", maxTokens: 64))
        XCTAssertNil(old.mmproj)
        try Data(#"{"mmproj": 3}"#.utf8).write(to: url)
        XCTAssertThrowsError(try ChatConfig.load(url)) { XCTAssertTrue("\($0)".contains(url.path), "\($0)") }
    }

    func testWhichModelAndProjectorOpen() throws {
        let a = try touch("a.gguf"), mmA = try touch("mmproj-a.gguf")
        let b = try touch("b.gguf"), mmB = try touch("mmproj-b.gguf")
        let home = NSHomeDirectory()
        var saved = SavedSession(id: "x", model: "a.gguf", modelPath: a, mmproj: mmA, created: Date(), updated: Date(),
                                 settings: SamplerSettings(), maxTokens: 1, messages: [])
        let config = ChatConfig(model: b, mmproj: "mmproj-b.gguf")   // relative: against the working directory
        func pick(_ model: String?, _ mmproj: String?, config: ChatConfig = ChatConfig(), saved: SavedSession? = nil) -> ModelChoice? {
            ModelChoice.resolve(model: model, mmproj: mmproj, config: config, saved: saved, cwd: dir.path)
        }
        // Flags alone; a relative or ~ mmproj becomes absolute.
        XCTAssertEqual(pick("a.gguf", "mmproj-a.gguf"), ModelChoice(model: "a.gguf", mmproj: mmA))
        XCTAssertEqual(pick(a, "~/p.gguf"), ModelChoice(model: a, mmproj: home + "/p.gguf"))
        XCTAssertEqual(pick(a, nil), ModelChoice(model: a, mmproj: nil))
        XCTAssertNil(pick(nil, mmA))
        // The resumed session's model and projector; --mmproj overrides only the projector.
        XCTAssertEqual(pick(nil, nil, config: config, saved: saved), ModelChoice(model: a, mmproj: mmA))
        XCTAssertEqual(pick(nil, mmB, saved: saved), ModelChoice(model: a, mmproj: mmB))
        // --model naming the session's model (spelled differently) keeps its projector ...
        XCTAssertEqual(pick("./a.gguf", nil, saved: saved), ModelChoice(model: "./a.gguf", mmproj: mmA))
        // ... another model takes the config's projector only if it is the config's model, else none.
        XCTAssertEqual(pick(b, nil, config: config, saved: saved), ModelChoice(model: b, mmproj: mmB))
        XCTAssertEqual(pick("c.gguf", nil, config: config, saved: saved), ModelChoice(model: "c.gguf", mmproj: nil))
        // The config alone; a session saved without a model path defers to it.
        XCTAssertEqual(pick(nil, nil, config: config), ModelChoice(model: b, mmproj: mmB))
        saved.modelPath = nil
        XCTAssertEqual(pick(nil, nil, config: config, saved: saved), ModelChoice(model: b, mmproj: mmB))
        // Names that are not files (repo ids, Ollama names) are remembered as given, paths made absolute.
        XCTAssertEqual(ModelChoice.rememberedModel("a.gguf", cwd: dir.path), a)
        XCTAssertEqual(ModelChoice.rememberedModel("Qwen/Qwen2-VL-2B-Instruct", cwd: dir.path), "Qwen/Qwen2-VL-2B-Instruct")
        XCTAssertEqual(ModelChoice.rememberedModel("llava:7b", cwd: dir.path), "llava:7b")
    }
}
