import Foundation
import TestSupport
import XCTest
@testable import Tokenizers

/// Compares the whole pipeline against transformers' outputs recorded in
/// Tests/Fixtures/tokenizers/<name>/reference.json (Scripts/fixtures/make_text_fixtures.py).
final class ReferenceTests: XCTestCase {
    struct Reference: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int]
            let ids_no_special: [Int]
            let decoded: String
            let decoded_skip: String
            let tokens: [String]
        }
        let vocab_size_with_added: Int
        let bos_token: String?
        let eos_token: String?
        let pad_token: String?
        let cases: [Case]
    }

    static let names = ["qwen2", "llama3", "smollm2"]

    func load(_ name: String) throws -> (Tokenizer, Reference) {
        let dir = Fixtures.url("tokenizers/\(name)")
        let tokenizer = try Tokenizer(directory: dir)
        let reference = try Fixtures.decode(Reference.self, "tokenizers/\(name)/reference.json")
        return (tokenizer, reference)
    }

    func testEncodeMatchesTransformers() throws {
        for name in Self.names {
            let (tokenizer, reference) = try load(name)
            XCTAssertGreaterThan(reference.cases.count, 20, name)
            for c in reference.cases {
                XCTAssertEqual(tokenizer.encode(c.text), c.ids, "\(name) ids for \(c.text.debugDescription)")
                XCTAssertEqual(tokenizer.encode(c.text, addSpecialTokens: false), c.ids_no_special,
                               "\(name) ids (no special) for \(c.text.debugDescription)")
                XCTAssertEqual(c.ids.map { tokenizer.token(forID: $0) ?? "?" }, c.tokens, "\(name) tokens for \(c.text.debugDescription)")
            }
        }
    }

    func testDecodeMatchesTransformers() throws {
        for name in Self.names {
            let (tokenizer, reference) = try load(name)
            for c in reference.cases {
                XCTAssertEqual(tokenizer.decode(c.ids), c.decoded, "\(name) decode of \(c.text.debugDescription)")
                XCTAssertEqual(tokenizer.decode(c.ids, skipSpecialTokens: true), c.decoded_skip,
                               "\(name) decode(skip) of \(c.text.debugDescription)")
                XCTAssertEqual(UTF8Util.lossy(tokenizer.decodeBytes(c.ids)), c.decoded, name)
            }
        }
    }

    func testSpecialTokensAndVocabulary() throws {
        for name in Self.names {
            let (tokenizer, reference) = try load(name)
            XCTAssertEqual(tokenizer.vocabularySize, reference.vocab_size_with_added, name)
            XCTAssertEqual(tokenizer.bosToken, reference.bos_token, name)
            XCTAssertEqual(tokenizer.eosToken, reference.eos_token, name)
            XCTAssertEqual(tokenizer.padToken, reference.pad_token, name)
            if let eos = reference.eos_token {
                let id = try XCTUnwrap(tokenizer.id(forToken: eos), name)
                XCTAssertTrue(tokenizer.isSpecial(id), name)
                XCTAssertEqual(tokenizer.token(forID: id), eos)
            }
            // addBOSToken must agree with what encode really does.
            let ids = tokenizer.encode("Hello")
            XCTAssertEqual(tokenizer.addBOSToken, tokenizer.bosTokenID != nil && ids.first == tokenizer.bosTokenID, name)
        }
        XCTAssertTrue(try load("llama3").0.addBOSToken)
        XCTAssertFalse(try load("qwen2").0.addBOSToken)
        XCTAssertFalse(try load("smollm2").0.addBOSToken)
    }

    func testStreamingEqualsFullDecode() throws {
        for name in Self.names {
            let (tokenizer, reference) = try load(name)
            for skip in [false, true] {
                for c in reference.cases {
                    var stream = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skip)
                    var text = ""
                    for id in c.ids {
                        let chunk = stream.append(id)
                        XCTAssertFalse(chunk.unicodeScalars.contains("\u{FFFD}"), "\(name) emitted a broken character")
                        text += chunk
                    }
                    text += stream.flush()
                    XCTAssertEqual(text, skip ? c.decoded_skip : c.decoded, "\(name) streaming \(c.text.debugDescription)")
                }
            }
        }
    }

    /// Feeding a Chinese/emoji text token by token: each chunk is whole characters, and a chunk is empty
    /// exactly when the bytes so far end inside a character.
    func testStreamingHoldsBackPartialCharacters() throws {
        let (tokenizer, _) = try load("qwen2")
        let text = "今天天气很好 🍕👨‍👩‍👧 ok"
        let ids = tokenizer.encode(text)
        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        var bytesSoFar: [UInt8] = []
        var emitted = ""
        var sawEmpty = false
        for id in ids {
            bytesSoFar += tokenizer.decodeBytes([id])
            let chunk = stream.append(id)
            let boundary = String(validating: bytesSoFar, as: UTF8.self) != nil
            if boundary {
                XCTAssertEqual(emitted + chunk, String(decoding: bytesSoFar, as: UTF8.self))
            } else {
                XCTAssertFalse(emitted.utf8.count + chunk.utf8.count >= bytesSoFar.count)
            }
            if chunk.isEmpty { sawEmpty = true }
            XCTAssertTrue(emitted.utf8.count + chunk.utf8.count <= bytesSoFar.count)
            emitted += chunk
        }
        emitted += stream.flush()
        XCTAssertEqual(emitted, text)
        XCTAssertTrue(sawEmpty, "the tiny vocabulary should split some character across tokens")
    }
}
