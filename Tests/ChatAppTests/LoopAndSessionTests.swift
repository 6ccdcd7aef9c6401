@testable import ChatApp
import Foundation
import Sampling
import TerminalUI
import TestSupport
import XCTest

final class LoopTests: XCTestCase {
    func makeLoop(_ backend: FakeBackend, size: Size = Size(width: 60, height: 16), store: SessionStore? = nil) -> (ChatLoop, HeadlessDriver) {
        let driver = HeadlessDriver(size: size)
        let loop = ChatLoop(state: makeState(), driver: driver, backend: backend, theme: .builtinDark, store: store)
        return (loop, driver)
    }

    func feed(_ loop: ChatLoop, _ driver: HeadlessDriver, _ keys: [Key]) {
        driver.pendingInput += keys.map { .key($0) }
        while !driver.pendingInput.isEmpty { loop.step(timeoutMilliseconds: 0) }
    }

    func testAReplyStreamsIntoTheTranscript() {
        let backend = FakeBackend(replies: [["Hel", "lo", " there"]])
        let (loop, driver) = makeLoop(backend)
        loop.redraw()
        feed(loop, driver, typing("hi") + [.enter])
        loop.settle()
        XCTAssertEqual(loop.state.mode, .idle)
        XCTAssertEqual(loop.state.messages.last?.text, "Hello there")
        XCTAssertEqual(loop.state.messages.last?.status, .complete)
        XCTAssertTrue(driver.frames.last?.contains("Hello there") ?? false)
        XCTAssertEqual(backend.requests.first?.messages, [ChatTurn(role: "user", text: "hi")])
        XCTAssertEqual(loop.state.tokensPerSecond, 42)   // the engine's figure once it is done
    }

    func testEscapeStopsMidReplyAndTheTemperatureChangesMidReply() {
        let backend = FakeBackend(replies: [(0..<400).map { "t\($0) " }], delay: 0.002)
        let (loop, driver) = makeLoop(backend)
        feed(loop, driver, typing("go") + [.enter])
        // Let a few tokens arrive, then raise the temperature twice.
        let deadline = Date().addingTimeInterval(5)
        while (loop.state.messages.last?.temperatures.count ?? 0) < 5, Date() < deadline { loop.step(timeoutMilliseconds: 5) }
        feed(loop, driver, [.alt("="), .alt("=")])
        while (loop.state.messages.last?.temperatures.last ?? 0) < 0.89, Date() < deadline { loop.step(timeoutMilliseconds: 5) }
        feed(loop, driver, [.escape])
        loop.settle()
        let reply = loop.state.messages.last
        XCTAssertEqual(reply?.status, .stopped)
        XCTAssertLessThan(reply?.temperatures.count ?? 400, 400, "stopped before the end")
        XCTAssertEqual(reply?.temperatures.first, 0.8)
        XCTAssertEqual(reply?.temperatures.last ?? 0, 0.9, accuracy: 1e-6)   // later tokens got the new value
        XCTAssertEqual(backend.updates.map(\.temperature).last ?? 0, 0.9, accuracy: 1e-6)
        XCTAssertTrue(driver.frames.last?.contains("[stopped]") ?? false)
    }

    func testScrolledBackViewStaysPutWhileTheReplyGrows() {
        let backend = FakeBackend(replies: [(0..<60).map { "line\($0)\n" }], delay: 0.002)
        let (loop, driver) = makeLoop(backend, size: Size(width: 40, height: 12))
        feed(loop, driver, typing("go") + [.enter])
        let deadline = Date().addingTimeInterval(5)
        while (loop.state.messages.last?.temperatures.count ?? 0) < 20, Date() < deadline { loop.step(timeoutMilliseconds: 5) }
        feed(loop, driver, [.ctrlUp, .ctrlUp, .ctrlUp])
        let top = driver.frames.last?.split(separator: "\n").first.map(String.init)
        loop.settle()
        XCTAssertEqual(loop.state.messages.last?.temperatures.count, 60)
        XCTAssertEqual(driver.frames.last?.split(separator: "\n").first.map(String.init), top)   // same first row
    }

    func testResizeMidReplyRedrawsAtTheNewSize() {
        let backend = FakeBackend(replies: [["a", "b", "c"]], delay: 0.01)
        let (loop, driver) = makeLoop(backend)
        feed(loop, driver, typing("x") + [.enter])
        driver.pendingInput.append(.resize(Size(width: 30, height: 10)))
        loop.step(timeoutMilliseconds: 0)
        XCTAssertTrue(driver.frames.last?.contains("Terminal too small") ?? false)
        driver.pendingInput.append(.resize(Size(width: 45, height: 13)))
        loop.step(timeoutMilliseconds: 0)
        loop.settle()
        XCTAssertEqual(driver.frames.last?.split(separator: "\n", omittingEmptySubsequences: false).count, 13)
        XCTAssertTrue(driver.frames.last?.contains("abc") ?? false)
    }

    func testCompareWithPerColumnTemperaturesFillsEveryColumn() {
        let backend = FakeBackend(replies: [["first"], ["A"]])
        let (loop, driver) = makeLoop(backend, size: Size(width: 80, height: 20))
        feed(loop, driver, typing("q") + [.enter])
        loop.settle()
        feed(loop, driver, typing("/compare 3 temp=0.2,0.7,1.2") + [.enter])
        loop.settle()
        let m = loop.state.messages.last
        XCTAssertEqual(m?.candidates.map(\.text), ["A", "A1", "A2"])
        XCTAssertEqual(m?.candidates.map { $0.temperatures.first ?? -1 }, [0.2, 0.7, 1.2])
        XCTAssertEqual(backend.requests.count, 2, "the comparison is one request")
        feed(loop, driver, [.alt("k")])
        XCTAssertEqual(loop.state.messages.last?.text, "A")
    }

    func testSessionIsSavedAfterTheReplyAndCanBeResumed() throws {
        let dir = try Fixtures.temporaryDirectory("squint-sessions")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = SessionStore(directory: dir)
        let (loop, driver) = makeLoop(FakeBackend(replies: [["saved reply"]]), store: store)
        feed(loop, driver, typing("remember me") + [.enter])
        loop.settle()
        let list = store.list()
        XCTAssertEqual(list.map(\.id), [loop.state.sessionID])
        XCTAssertEqual(list.first?.title, "remember me")
        let (other, driver2) = makeLoop(FakeBackend(replies: []), store: store)
        feed(other, driver2, [.f(5)])
        XCTAssertEqual(other.state.sessionList.count, 1)
        feed(other, driver2, [.enter])
        XCTAssertEqual(other.state.messages.map(\.text), ["remember me", "saved reply"])
        XCTAssertEqual(other.state.sessionID, loop.state.sessionID)
    }

    /// Key-to-frame latency through the loop (reducer + full render + HeadlessDriver present).
    func testKeyToFrameLatency() {
        let (loop, driver) = makeLoop(FakeBackend(replies: []), size: Size(width: 120, height: 40))
        var state = loop.state
        state.messages = (0..<200).map { Message(role: $0 % 2 == 0 ? .user : .assistant, text: String(repeating: "word 中文 ", count: 40)) }
        let loaded = ChatLoop(state: state, driver: driver, backend: FakeBackend(replies: []), theme: .builtinDark, store: nil)
        loaded.redraw()
        let n = 200
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<n {
            driver.pendingInput.append(.key(.char("x")))
            loaded.step(timeoutMilliseconds: 0)
        }
        let perKey = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(n) / 1e6
        print("key-to-frame latency (debug build, 120x40, 200 long messages): \(String(format: "%.2f", perKey)) ms")
        XCTAssertEqual(driver.frames.count, n + 1)
        XCTAssertLessThan(perKey, 100)
    }
}

final class SessionStoreTests: XCTestCase {
    func testAtomicSaveLoadAndList() throws {
        let dir = try Fixtures.temporaryDirectory("squint-store")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = SessionStore(directory: dir.appendingPathComponent("nested/sessions"))
        var s = makeState()
        s.messages = [Message(role: .user, text: "hello"), Message(role: .assistant, text: "hi", status: .streaming)]
        s.messages[1].temperatures = [0.5, 0.75]
        s.settings.topK = 7
        try store.save(s.savedSession(created: Date(timeIntervalSince1970: 1000), now: Date(timeIntervalSince1970: 2000)))
        let files = try FileManager.default.contentsOfDirectory(atPath: store.directory.path)
        XCTAssertEqual(files, ["\(s.sessionID).json"])   // no temporary file left behind
        let loaded = try store.load(s.sessionID)
        XCTAssertEqual(loaded.messages.map(\.text), ["hello", "hi"])
        XCTAssertEqual(loaded.messages[1].temperatures, [0.5, 0.75])
        XCTAssertEqual(loaded.settings.topK, 7)
        var restored = makeState()
        restored.restore(loaded)
        XCTAssertEqual(restored.messages[1].status, .stopped)   // saved mid-reply
        var newer = s
        newer.sessionID = "20261125-000001-0001"
        try store.save(newer.savedSession(created: Date(), now: Date(timeIntervalSince1970: 3000)))
        XCTAssertEqual(store.list().map(\.id), ["20261125-000001-0001", s.sessionID])
        XCTAssertEqual(store.latestID(), "20261125-000001-0001")
    }

    func testBadIDsAndMissingSessions() throws {
        let store = SessionStore(directory: URL(fileURLWithPath: "/nonexistent-squint"))
        XCTAssertThrowsError(try store.load("../etc/passwd")) { XCTAssertEqual($0 as? SessionError, .badID("../etc/passwd")) }
        XCTAssertThrowsError(try store.load("nothere")) {
            XCTAssertEqual($0 as? SessionError, .notFound(id: "nothere", directory: "/nonexistent-squint"))
        }
    }

    func testDefaultDirectoryFollowsXDG() {
        XCTAssertEqual(SessionStore.defaultDirectory(environment: ["XDG_DATA_HOME": "/x/data", "HOME": "/h"]).path, "/x/data/squint/sessions")
        XCTAssertEqual(SessionStore.defaultDirectory(environment: ["HOME": "/h"]).path, "/h/.local/share/squint/sessions")
        // A relative XDG_DATA_HOME is invalid per the spec and ignored.
        XCTAssertEqual(SessionStore.defaultDirectory(environment: ["XDG_DATA_HOME": "rel", "HOME": "/h"]).path, "/h/.local/share/squint/sessions")
    }

    func testMarkdownExportIsSanitised() {
        var s = makeState()
        s.messages = [Message(role: .user, text: "q"), Message(role: .assistant, text: "a\u{1B}]52;c;eA==\u{07}nswer", status: .stopped)]
        let md = s.markdown()
        XCTAssertFalse(md.contains("\u{1B}"))
        XCTAssertTrue(md.contains("## Assistant (stopped)\n\nanswer"))
        XCTAssertTrue(md.contains("## You\n\nq"))
    }
}

final class ChatConfigTests: XCTestCase {
    func testLoadAndDefaults() throws {
        let dir = try Fixtures.temporaryDirectory("squint-config")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("chat.json")
        XCTAssertEqual(try ChatConfig.load(url), ChatConfig())   // no file: nothing set
        try Data(#"{"theme": "light", "maxTokens": 99, "sampling": {"temperature": 0.3, "topK": 5}}"#.utf8).write(to: url)
        let c = try ChatConfig.load(url)
        XCTAssertEqual(c.theme, "light")
        XCTAssertEqual(c.maxTokens, 99)
        XCTAssertEqual(c.sampling?.temperature, 0.3)
        XCTAssertEqual(c.sampling?.topP, SamplerSettings().topP)   // unnamed keys keep their defaults
        try Data(#"{"sampling": {"topP": 3}}"#.utf8).write(to: url)
        XCTAssertThrowsError(try ChatConfig.load(url)) { error in
            XCTAssertTrue("\(error)".contains(url.path), "\(error)")
        }
        XCTAssertEqual(ChatConfig.defaultURL(environment: ["XDG_CONFIG_HOME": "/c"]).path, "/c/squint/chat.json")
    }
}
