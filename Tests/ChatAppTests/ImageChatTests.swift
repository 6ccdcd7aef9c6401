@testable import ChatApp
import Foundation
import ImageProcessing
import Inference
import Sampling
import TerminalUI
import TestSupport
import XCTest

/// Images through the real decoder, the vision fixture model and the engine.
final class ImageChatTests: XCTestCase {
    static let photo = Fixtures.url("vl/images/photo.jpg").path
    static let modelDir = Fixtures.url("vl/qwen2-vl-v4")

    static func engine() throws -> InferenceEngine {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: modelDir.path), "vision fixture missing")
        return try InferenceEngine(directory: modelDir)
    }

    /// The previews are Pillow's `ImageOps.exif_transpose(Image.open(p)).convert("RGB").resize((w, h),
    /// Image.LANCZOS)` (values from Pillow in the fixture environment).
    func testPreviewsMatchPillowAndTheCostIsTheProcessors() throws {
        let engine = try Self.engine()
        guard case let .loaded(image) = ImageLoader.load(path: Self.photo, tokenCost: {
            try? engine.imageTokenCost(width: $0, height: $1)
        }) else { return XCTFail("photo.jpg did not load") }
        let reference = try XCTUnwrap(Fixtures.json("vl/qwen2-vl-v4/reference.json") as? [String: Any])
        let facts = try XCTUnwrap((reference["images"] as? [String: Any])?["images/photo.jpg"] as? [String: Any])
        XCTAssertEqual(image.attachment.width, facts["width"] as? Int)
        XCTAssertEqual(image.attachment.height, facts["height"] as? Int)
        XCTAssertEqual(image.attachment.tokens, facts["num_image_tokens"] as? Int)
        XCTAssertEqual(image.attachment.tokens, 54)
        XCTAssertEqual(image.attachment.contentHash, try ImageDecoder.decode(path: Self.photo).contentHash)
        XCTAssertEqual([image.large.width, image.large.height], [13, 20])
        XCTAssertEqual(image.large.pixels.reduce(0) { $0 + Int($1) }, 98518)
        XCTAssertEqual(sha256Hex(image.large.pixels), "7845ae645ddc4af08548d9793ea1e584e2fccfe9265053719da25ff011b0e0bf")
        XCTAssertEqual([image.small.width, image.small.height], [5, 8])
        XCTAssertEqual(sha256Hex(image.small.pixels), "89aaa805395c9a9c173c45681b3d781db2de64cc0c9d427a440cc3314a7a3831")
        XCTAssertEqual(image.attachment.pill, "[image photo.jpg 333x517, 54 tokens]")
    }

    func testMissingAndBrokenFilesGiveTheDecodersOneLineMessage() throws {
        guard case let .failed(missing) = ImageLoader.load(path: "/nonexistent/x.png", tokenCost: { _, _ in nil }) else {
            return XCTFail("loaded a missing file")
        }
        XCTAssertTrue(missing.hasPrefix("/nonexistent/x.png: cannot read image file"), missing)
        let dir = try Fixtures.temporaryDirectory()
        let bad = dir.appendingPathComponent("bad.jpg")
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 0x4A, 0x46]).write(to: bad)
        guard case let .failed(corrupt) = ImageLoader.load(path: bad.path, tokenCost: { _, _ in nil }) else {
            return XCTFail("loaded a truncated JPEG")
        }
        XCTAssertFalse(corrupt.contains("\n"))
        XCTAssertTrue(corrupt.hasPrefix(bad.path + ": "), corrupt)
    }

    func loadedState(previewMode: PreviewMode) throws -> ChatState {
        let engine = try Self.engine()
        let result = ImageLoader.load(path: Self.photo) { try? engine.imageTokenCost(width: $0, height: $1) }
        var s = visionState()
        s.previewMode = previewMode
        s.settings.seed = 42
        guard case let .loaded(image) = result else { throw XCTSkip("photo.jpg did not load") }
        s.loadedImages[Self.photo] = image
        var m = Message(role: .user, text: "What is this?")
        m.images = [image.attachment]
        s.messages = [m, Message(role: .assistant, text: "A yellow circle over a square.")]
        s.pendingImages = [PendingImage(path: Self.photo, attachment: image.attachment),
                           PendingImage(path: "/work/cat.png")]
        s.editor.setText("and this one?")
        return s
    }

    func render(_ s: ChatState, _ width: Int, _ height: Int) -> (String, Canvas) {
        let driver = HeadlessDriver(size: Size(width: width, height: height))
        var screen = Canvas(size: driver.size)
        let f = ChatView.render(s, size: driver.size, theme: .builtinDark)
        screen.adopt(f.canvas)
        driver.present(&screen, cursor: f.cursor)
        return (driver.frames.last ?? "", driver.screen)
    }

    func testStripAndTranscriptPreviewSnapshot() throws {
        let s = try loadedState(previewMode: .color)
        let (text, canvas) = render(s, 70, 36)
        assertSnapshot(text, named: "images-strip-70x36")
        // The cells carry the preview's pixels: fg the upper pixel, bg the lower one.
        let image = try XCTUnwrap(s.loadedImages[Self.photo])
        let rows = text.split(separator: "\n", omittingEmptySubsequences: false)
        let top = try XCTUnwrap(rows.firstIndex { $0.hasPrefix("  ▀") })
        for (x, y) in [(0, 0), (6, 3), (12, 9)] {
            let cell = canvas[2 + x, top + y]
            XCTAssertEqual(cell.text, "▀")
            let i = ((2 * y) * image.large.width + x) * 3, j = ((2 * y + 1) * image.large.width + x) * 3
            XCTAssertEqual(cell.style.fg, .rgb(image.large.pixels[i], image.large.pixels[i + 1], image.large.pixels[i + 2]))
            XCTAssertEqual(cell.style.bg, .rgb(image.large.pixels[j], image.large.pixels[j + 1], image.large.pixels[j + 2]))
        }
    }

    func testWithoutColoursImagesAreTextPills() throws {
        let s = try loadedState(previewMode: .text)
        let (text, canvas) = render(s, 70, 16)
        assertSnapshot(text, named: "images-no-color-70x16")
        XCTAssertTrue(text.contains("[image photo.jpg 333x517, 54 tokens]"))
        XCTAssertFalse(text.contains("▀"))
        for y in 0..<canvas.height { for x in 0..<canvas.width {
            if case .rgb = canvas[x, y].style.fg { XCTFail("colour at \(x),\(y)") }
        } }
    }

    /// The adapter's request for a turn with an image is the processor's prompt: the ids equal
    /// transformers' `input_ids` for the fixture's one_jpeg and second_turn cases.
    func testAdapterSendsImagesToTheEngine() async throws {
        let engine = try Self.engine()
        let backend = EngineBackend(engine: engine, name: "qwen2-vl-v4")
        XCTAssertTrue(backend.info.supportsImages)
        XCTAssertEqual(backend.imageTokenCost(width: 333, height: 517), 54)
        let reference = try XCTUnwrap(Fixtures.json("vl/qwen2-vl-v4/reference.json") as? [String: Any])
        let cases = try XCTUnwrap(reference["cases"] as? [[String: Any]])
        func ids(_ name: String) throws -> [Int] {
            try XCTUnwrap(cases.first { $0["name"] as? String == name }?["input_ids"] as? [Int])
        }
        let one = ChatRequest(messages: [ChatTurn(role: "user", text: "Describe this image.", images: [Self.photo])],
                              sampling: SamplerSettings(), maxTokens: 2)
        var promptCount = 0
        for try await event in backend.generate(one) {
            if case let .prompt(tokens, _) = event { promptCount = tokens }
        }
        let expected = try ids("one_jpeg")
        XCTAssertEqual(promptCount, expected.count)
        let result = try await engine.complete(EngineBackend.request(one))
        XCTAssertEqual(result.prompt, expected)
        XCTAssertEqual(result.timings.imagesEncoded + result.timings.imagesCached, 1)

        // A later turn re-sends the first turn's image: the same ids as transformers', features cached.
        let second = ChatRequest(messages: [
            ChatTurn(role: "user", text: "What colour is the circle?", images: [Self.photo]),
            ChatTurn(role: "assistant", text: "The circle is yellow."),
            ChatTurn(role: "user", text: "And the square below it?"),
        ], sampling: SamplerSettings(), maxTokens: 1)
        let again = try await engine.complete(EngineBackend.request(second))
        XCTAssertEqual(again.prompt, try ids("second_turn"))
        XCTAssertEqual(again.timings.imagesCached, 1)
        let counted = await backend.promptTokenCount(second.messages)
        XCTAssertEqual(counted, try ids("second_turn").count)
    }

    /// The whole path through the loop: /image, the background read, the strip, the reply with the
    /// image in its request, and a resume that finds the file gone.
    func testLoopAttachesSendsAndResumes() throws {
        let dir = try Fixtures.temporaryDirectory()
        let copy = dir.appendingPathComponent("my photo.jpg")
        try FileManager.default.copyItem(atPath: Self.photo, toPath: copy.path)
        let backend = VisionFakeBackend()
        let store = SessionStore(directory: dir.appendingPathComponent("sessions"))
        let driver = HeadlessDriver(size: Size(width: 60, height: 24))
        var state = ChatState(info: backend.info, sessionID: "20261125-000000-0002")
        state.files = FileEnvironment(home: dir.path, workingDirectory: "/", fileExists: FileEnvironment.process.fileExists,
                                      listDirectory: FileEnvironment.process.listDirectory)
        let loop = ChatLoop(state: state, driver: driver, backend: backend, theme: .builtinDark, store: store)
        func feed(_ keys: [Key]) {
            driver.pendingInput += keys.map { .key($0) }
            while !driver.pendingInput.isEmpty { loop.step(timeoutMilliseconds: 0) }
        }
        func until(_ done: () -> Bool) {
            let deadline = Date().addingTimeInterval(10)
            while !done(), Date() < deadline { loop.step(timeoutMilliseconds: 10) }
        }
        feed(typing("/image ~/my") + [.tab, .enter])
        until { loop.state.pendingImages.first?.attachment != nil }
        XCTAssertEqual(loop.state.pendingImages.first?.attachment?.tokens, 77)
        XCTAssertTrue(driver.frames.last?.contains("333x517") ?? false)
        feed(typing("what is it?") + [.enter])
        loop.settle()
        XCTAssertEqual(backend.requests.first?.messages, [ChatTurn(role: "user", text: "what is it?", images: [copy.path])])
        XCTAssertTrue(loop.state.pendingImages.isEmpty)
        XCTAssertTrue(loop.state.markdown().contains("![my photo.jpg](\(copy.path))"))

        // Resume after the file was removed: a notice, and the turn keeps a placeholder.
        try FileManager.default.removeItem(at: copy)
        let driver2 = HeadlessDriver(size: Size(width: 60, height: 24))
        var resumed = ChatState(info: backend.info, sessionID: "20261125-000000-0003")
        resumed.restore(try store.load("20261125-000000-0002"))
        XCTAssertEqual(resumed.messages.first?.images.first?.contentHash, try ImageDecoder.decode(path: Self.photo).contentHash)
        let loop2 = ChatLoop(state: resumed, driver: driver2, backend: backend, theme: .builtinDark, store: store)
        loop2.startResumeChecks()
        let deadline = Date().addingTimeInterval(10)
        while !loop2.state.verifyingPaths.isEmpty, Date() < deadline { loop2.step(timeoutMilliseconds: 10) }
        XCTAssertEqual(loop2.state.messages.first?.images.first?.missing, true)
        XCTAssertTrue(loop2.state.notice?.contains("cannot read image file") ?? false, loop2.state.notice ?? "")
        XCTAssertTrue(driver2.frames.last?.contains("[missing image my photo.jpg]") ?? false, driver2.frames.last ?? "")
        // Once the images are checked, the context is counted (without the missing one).
        let counted = Date().addingTimeInterval(10)
        while loop2.state.contextUsed == 0, Date() < counted { loop2.step(timeoutMilliseconds: 10) }
        XCTAssertEqual(loop2.state.contextUsed, 100)
    }
}

/// A vision backend with scripted replies and a fixed image cost.
final class VisionFakeBackend: ChatBackend, @unchecked Sendable {
    let info = ModelInfo(name: "tiny-vl", family: "qwen2_vl", contextLength: 4096, supportsImages: true)
    private let lock = NSLock()
    private var _requests: [ChatRequest] = []
    var requests: [ChatRequest] { lock.withLock { _requests } }

    func generate(_ request: ChatRequest) -> AsyncThrowingStream<BackendEvent, Error> {
        lock.withLock { _requests.append(request) }
        return AsyncThrowingStream { c in
            c.yield(.prompt(tokens: 100, reused: 0))
            c.yield(.token(candidate: 0, text: "a photo", temperature: 0.8))
            c.yield(.candidateFinished(candidate: 0, reason: .stop))
            c.yield(.done(decodeTokensPerSecond: 1, prefillTokensPerSecond: 1))
            c.finish()
        }
    }
    func updateSampling(_ settings: SamplerSettings) async {}
    func cancel() async {}
    func promptTokenCount(_ messages: [ChatTurn]) async -> Int? { 100 }
    func imageTokenCost(width: Int, height: Int) -> Int? { 77 }
}
