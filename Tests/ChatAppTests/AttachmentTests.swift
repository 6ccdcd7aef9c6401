@testable import ChatApp
import Foundation
import Sampling
import TerminalUI
import XCTest

/// A home, a working directory and a few files, without touching the disk.
func fakeFiles(_ files: Set<String> = ["/work/cat.png", "/home/me/pics/dog.jpg", "/home/me/pics/dot.jpeg",
                                       "/home/me/my photo.jpg"]) -> FileEnvironment {
    FileEnvironment(home: "/home/me", workingDirectory: "/work",
                    fileExists: { files.contains($0) },
                    listDirectory: { dir in
                        let prefix = dir.hasSuffix("/") ? dir : dir + "/"
                        var seen: [String: Bool] = [:]
                        for f in files where f.hasPrefix(prefix) {
                            let rest = f.dropFirst(prefix.count)
                            if let slash = rest.firstIndex(of: "/") { seen[String(rest[..<slash])] = true } else { seen[String(rest)] = false }
                        }
                        return seen.isEmpty ? nil : seen.map { ($0.key, $0.value) }
                    })
}

func visionState() -> ChatState {
    var s = ChatState(info: ModelInfo(name: "tiny-vl", family: "qwen2_vl", contextLength: 4096, supportsImages: true),
                      sessionID: "20261125-000000-0001")
    s.files = fakeFiles()
    return s
}

func loaded(_ path: String, tokens: Int = 54, hash: String = "h") -> ImageLoadResult {
    let px = PreviewPixels(width: 2, height: 2, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    return .loaded(LoadedImage(attachment: Attachment(path: path, width: 333, height: 517, tokens: tokens, contentHash: hash),
                               large: px, small: px))
}

final class ImagePathTests: XCTestCase {
    func testWordsUndoQuotesAndEscapes() {
        XCTAssertEqual(ImagePaths.words(#"look at '/tmp/my photo.jpg' and "/a/b \"c\".png" x\ y.png"#).map(\.text),
                       ["look", "at", "/tmp/my photo.jpg", "and", #"/a/b "c".png"#, "x y.png"])
        let w = ImagePaths.words("a  'b c'")
        XCTAssertEqual(w[1].range, 3..<8)
        XCTAssertTrue(w[1].quoted)
        XCTAssertFalse(w[0].quoted)
        // An unclosed quote is an ordinary character.
        XCTAssertEqual(ImagePaths.words("it's /x.png").map(\.text), ["it's", "/x.png"])
    }

    func testExtractFindsQuotedEscapedAndTildePaths() {
        let env = fakeFiles()
        var r = ImagePaths.extract("what is in ~/pics/dog.jpg please", env)
        XCTAssertEqual(r.text, "what is in please")
        XCTAssertEqual(r.paths, ["/home/me/pics/dog.jpg"])
        r = ImagePaths.extract("compare '~/my photo.jpg' with ~/my\\ photo.jpg", env)
        XCTAssertEqual(r.paths, ["/home/me/my photo.jpg", "/home/me/my photo.jpg"])
        XCTAssertEqual(r.text, "compare with")
        r = ImagePaths.extract("file:///home/me/my%20photo.jpg", env)
        XCTAssertEqual(r.paths, ["/home/me/my photo.jpg"])
        XCTAssertEqual(r.text, "")
        // A bare name counts only when the file exists (relative to the working directory).
        r = ImagePaths.extract("is cat.png or logo.png better?", env)
        XCTAssertEqual(r.paths, ["/work/cat.png"])
        XCTAssertEqual(r.text, "is or logo.png better?")
        // No image extension, no path.
        XCTAssertEqual(ImagePaths.extract("see /etc/passwd", env).paths, [])
        XCTAssertEqual(ImagePaths.pastedPaths("  '/home/me/my photo.jpg'\n", env), ["/home/me/my photo.jpg"])
        XCTAssertNil(ImagePaths.pastedPaths("a picture /x.png", env))
    }

    func testTabCompletesImagePathsAndFolders() {
        let env = fakeFiles()
        XCTAssertEqual(ImagePaths.complete("~/pi", env).text, "~/pics/")
        let r = ImagePaths.complete("~/pics/d", env)
        XCTAssertEqual(r.text, "~/pics/do")
        XCTAssertEqual(r.candidates, ["dog.jpg", "dot.jpeg"])
        XCTAssertEqual(ImagePaths.complete("c", env).text, "cat.png")

        var s = visionState()
        send(&s, typing("/image ~/my"))
        XCTAssertEqual(send(&s, [.tab]), .redraw)
        XCTAssertEqual(s.editor.text, "/image ~/my\\ photo.jpg")
        send(&s, [.enter])
        XCTAssertEqual(s.pendingImages.map(\.path), ["/home/me/my photo.jpg"])
        // Tab elsewhere still picks compared replies (nothing to do here).
        send(&s, typing("hello"))
        XCTAssertEqual(send(&s, [.tab]), [])
        XCTAssertEqual(s.editor.text, "hello")
    }
}

final class AttachmentReducerTests: XCTestCase {
    func testImageCommandAttachesAndAsksForABackgroundRead() {
        var s = visionState()
        let r = send(&s, typing("/image ~/pics/dog.jpg /work/cat.png") + [.enter])
        XCTAssertTrue(r.contains(.loadImages))
        XCTAssertEqual(s.imagesToLoad, ["/home/me/pics/dog.jpg", "/work/cat.png"])
        XCTAssertEqual(s.pendingImages.map(\.path), ["/home/me/pics/dog.jpg", "/work/cat.png"])
        XCTAssertTrue(s.pendingImages.allSatisfy { $0.attachment == nil })
        // The same path again is neither attached twice nor read twice.
        s.imagesToLoad = []
        let again = send(&s, typing("/image /work/cat.png") + [.enter])
        XCTAssertFalse(again.contains(.loadImages))
        XCTAssertEqual(s.pendingImages.count, 2)
        _ = reduce(&s, .imageLoaded(path: "/work/cat.png", loaded("/work/cat.png")), now: 0)
        XCTAssertEqual(s.pendingImages[1].attachment?.tokens, 54)
        XCTAssertNil(s.pendingImages[0].attachment)
        XCTAssertEqual(s.messages.count, 0)
    }

    func testTextOnlyModelRefusesWithOneLine() {
        var s = makeState()
        s.files = fakeFiles()
        let r = send(&s, typing("/image /work/cat.png") + [.enter])
        XCTAssertEqual(r, .redraw)
        XCTAssertEqual(s.notice, "tiny-qwen reads text only: it cannot take images")
        XCTAssertTrue(s.pendingImages.isEmpty)
        // A pasted path is kept as text, with the notice; a typed one goes to the model as text.
        send(&s, [.paste("/work/cat.png")])
        XCTAssertEqual(s.editor.text, "/work/cat.png")
        XCTAssertTrue(s.notice?.contains("reads text only") ?? false)
        s.editor.setText("what is /work/cat.png")
        send(&s, [.enter])
        XCTAssertEqual(s.messages.last { $0.role == .user }?.text, "what is /work/cat.png")
        XCTAssertEqual(s.pendingPlan?.requests.first?.messages.last?.images, [])
    }

    /// A GGUF vision model loaded without its mmproj says so instead of "reads text only".
    func testMissingVisionPartIsTheNotice() {
        var s = makeState()
        s.files = fakeFiles()
        s.info.imagesUnavailable = "m.gguf is the text half of a vision model: give llama.cpp's mmproj file with --mmproj FILE"
        send(&s, typing("/image /work/cat.png") + [.enter])
        XCTAssertEqual(s.notice, s.info.imagesUnavailable)
        XCTAssertTrue(s.pendingImages.isEmpty)
    }

    func testPathInTheMessageIsReadThenSentWithoutItsText() {
        var s = visionState()
        let r = send(&s, typing("what is in '~/my photo.jpg'?") + [.enter])
        XCTAssertTrue(r.contains(.loadImages))
        XCTAssertTrue(s.sendWhenReady)
        XCTAssertEqual(s.messages.count, 0)
        XCTAssertEqual(s.editor.text, "what is in '~/my photo.jpg'?")   // nothing cleared yet
        let done = reduce(&s, .imageLoaded(path: "/home/me/my photo.jpg", loaded("/home/me/my photo.jpg")), now: 0)
        XCTAssertTrue(done.contains(.generate))
        XCTAssertEqual(s.messages.first?.text, "what is in?")
        XCTAssertEqual(s.messages.first?.images.map(\.path), ["/home/me/my photo.jpg"])
        XCTAssertEqual(s.pendingPlan?.requests.first?.messages, [ChatTurn(role: "user", text: "what is in?", images: ["/home/me/my photo.jpg"])])
        XCTAssertTrue(s.pendingImages.isEmpty)
        XCTAssertEqual(s.editor.text, "")
        // Later turns carry the image again.
        _ = reduce(&s, .finished, now: 1)
        s.messages[1].text = "a cat"
        send(&s, typing("and its colour?") + [.enter])
        XCTAssertEqual(s.pendingPlan?.requests.first?.messages.map(\.images), [["/home/me/my photo.jpg"], [], []])
    }

    func testABrokenImageGivesItsErrorAndKeepsWhatWasTyped() {
        var s = visionState()
        send(&s, typing("describe /work/cat.png now") + [.enter])
        let message = "/work/cat.png: corrupt or truncated PNG image: bad CRC"
        _ = reduce(&s, .imageLoaded(path: "/work/cat.png", .failed(message)), now: 0)
        XCTAssertEqual(s.notice, message + " (Enter again sends the text as it is)")
        XCTAssertEqual(s.editor.text, "describe /work/cat.png now")
        XCTAssertTrue(s.messages.isEmpty)
        XCTAssertTrue(s.pendingImages.isEmpty)
        XCTAssertFalse(s.sendWhenReady)
        XCTAssertEqual(s.mode, .idle)
        // Enter again: the path was not meant as an image, the text goes as typed.
        send(&s, [.enter])
        XCTAssertEqual(s.messages.first?.text, "describe /work/cat.png now")
        XCTAssertEqual(s.messages.first?.images, [])
        // /image on its own gives the decoder's message alone.
        _ = reduce(&s, .finished, now: 1)
        send(&s, typing("/image /work/cat.png") + [.enter])
        _ = reduce(&s, .imageLoaded(path: "/work/cat.png", .failed(message)), now: 2)
        XCTAssertEqual(s.notice, message)
    }

    func testDetachWithAltXBackspaceAndCommand() {
        var s = visionState()
        send(&s, [.paste("/work/cat.png ~/pics/dog.jpg")])
        XCTAssertEqual(s.pendingImages.count, 2)
        XCTAssertEqual(s.editor.text, "")
        send(&s, [.alt("x")])
        XCTAssertEqual(s.pendingImages.map(\.path), ["/work/cat.png"])
        XCTAssertEqual(s.notice, "detached dog.jpg")
        send(&s, typing("x") + [.backspace])          // Backspace deletes the text first
        XCTAssertEqual(s.pendingImages.count, 1)
        send(&s, [.backspace])                        // then, on an empty line, the image
        XCTAssertTrue(s.pendingImages.isEmpty)
        send(&s, [.paste("/work/cat.png ~/pics/dog.jpg")])
        send(&s, typing("/detach 1") + [.enter])
        XCTAssertEqual(s.pendingImages.map(\.path), ["/home/me/pics/dog.jpg"])
        send(&s, typing("/detach all") + [.enter])
        XCTAssertTrue(s.pendingImages.isEmpty)
        send(&s, [.alt("x")])
        XCTAssertEqual(s.notice, "no images attached")
    }

    func testAbsolutePathFirstIsAMessageNotACommand() {
        var s = visionState()
        send(&s, typing("/work/cat.png what is this?") + [.enter])
        XCTAssertEqual(s.pendingImages.map(\.path), ["/work/cat.png"])
        XCTAssertTrue(s.sendWhenReady)
        XCTAssertFalse(s.notice?.contains("unknown command") ?? true)
    }

    func testEditingAMessageBringsItsImagesBack() {
        var s = visionState()
        send(&s, [.paste("/work/cat.png")])
        _ = reduce(&s, .imageLoaded(path: "/work/cat.png", loaded("/work/cat.png")), now: 0)
        send(&s, typing("what?") + [.enter])
        _ = reduce(&s, .finished, now: 1)
        send(&s, [.alt("e")])
        XCTAssertEqual(s.editor.text, "what?")
        XCTAssertEqual(s.pendingImages.map(\.path), ["/work/cat.png"])
        send(&s, [.enter])
        XCTAssertEqual(s.messages.filter { $0.role == .user }.count, 1)
        XCTAssertEqual(s.messages.first?.images.count, 1)
    }

    func testResumeChecksImagesAndKeepsPlaceholders() throws {
        var s = visionState()
        var m = Message(role: .user, text: "first")
        m.images = [Attachment(path: "/work/cat.png", width: 333, height: 517, tokens: 54, contentHash: "h")]
        var m2 = Message(role: .user, text: "second")
        m2.images = [Attachment(path: "/gone.png", width: 10, height: 10, tokens: 4, contentHash: "g"),
                     Attachment(path: "/changed.png", width: 10, height: 10, tokens: 4, contentHash: "old")]
        s.messages = [m, Message(role: .assistant, text: "ok"), m2, Message(role: .assistant, text: "ok")]
        // Through JSON, as the session file.
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(s.savedSession(created: Date(timeIntervalSince1970: 0)))
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("\"contentHash\":\"h\""))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var r = visionState()
        r.restore(try decoder.decode(SavedSession.self, from: data))
        XCTAssertEqual(r.messages[0].images, m.images)
        XCTAssertTrue(r.verifyImages().contains(.loadImages))
        XCTAssertEqual(r.imagesToLoad, ["/changed.png", "/gone.png", "/work/cat.png"])
        // Enter before the checks end waits for them.
        send(&r, typing("third") + [.enter])
        XCTAssertTrue(r.sendWhenReady)
        _ = reduce(&r, .imageLoaded(path: "/work/cat.png", loaded("/work/cat.png", hash: "h")), now: 0)
        _ = reduce(&r, .imageLoaded(path: "/changed.png", loaded("/changed.png", hash: "new")), now: 0)
        XCTAssertTrue(r.notice?.contains("changed since the session was saved") ?? false)
        let last = reduce(&r, .imageLoaded(path: "/gone.png", .failed("/gone.png: cannot read image file: No such file or directory")), now: 0)
        XCTAssertEqual(r.notice, "/gone.png: cannot read image file: No such file or directory (the turn keeps a placeholder)")
        XCTAssertTrue(last.contains(.countContext))
        XCTAssertFalse(r.messages[0].images[0].missing)
        XCTAssertEqual(r.messages[2].images.map(\.missing), [true, true])
        // The failure cancelled the deferred send; sending again works and skips the missing images.
        XCTAssertEqual(r.editor.text, "third")
        send(&r, [.enter])
        XCTAssertEqual(r.pendingPlan?.requests.first?.messages.map(\.images), [["/work/cat.png"], [], [], [], []])
        // A message without images is written as before (no key), so older sessions read the same.
        let plain = try encoder.encode(Message(role: .user, text: "hi"))
        XCTAssertFalse(String(decoding: plain, as: UTF8.self).contains("attachments"))
        XCTAssertEqual(try decoder.decode(Message.self, from: plain).images, [])
    }
}
