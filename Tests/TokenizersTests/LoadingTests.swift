import Foundation
import TestSupport
import XCTest
@testable import Tokenizers

/// Loading errors, special-token config forms and chat-template lookup.
final class LoadingTests: XCTestCase {
    func fixtureJSON(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: Fixtures.url("tokenizers/\(name)/tokenizer.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func build(_ json: [String: Any], config: [String: Any]? = nil) throws -> Tokenizer {
        try Tokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: json),
                      tokenizerConfigJSON: try config.map { try JSONSerialization.data(withJSONObject: $0) })
    }

    func assertThrows(_ expected: TokenizerError, _ body: () throws -> Tokenizer,
                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual(error as? TokenizerError, expected, file: file, line: line)
        }
    }

    func testUnknownModelType() throws {
        var json = try fixtureJSON("qwen2")
        var model = json["model"] as! [String: Any]
        model["type"] = "Unigram"
        json["model"] = model
        assertThrows(.unsupportedType(section: "tokenizer.json.model", type: "Unigram")) { try self.build(json) }
        XCTAssertEqual(TokenizerError.unsupportedType(section: "tokenizer.json.model", type: "Unigram").description,
                       "unsupported tokenizer.json.model type \"Unigram\"")
    }

    func testUnknownPreTokenizerNamesItsPlaceInTheSequence() throws {
        var json = try fixtureJSON("qwen2")
        var pre = json["pre_tokenizer"] as! [String: Any]
        var steps = pre["pretokenizers"] as! [[String: Any]]
        steps[1] = ["type": "FancySplitter"]
        pre["pretokenizers"] = steps
        json["pre_tokenizer"] = pre
        assertThrows(.unsupportedType(section: "tokenizer.json.pre_tokenizer.pretokenizers[1]", type: "FancySplitter")) {
            try self.build(json)
        }
    }

    func testUnknownNormalizerAndDecoder() throws {
        var json = try fixtureJSON("qwen2")
        json["normalizer"] = ["type": "Precompiled", "precompiled_charsmap": "AAAA"]
        assertThrows(.unsupportedType(section: "tokenizer.json.normalizer", type: "Precompiled")) { try self.build(json) }
        json = try fixtureJSON("qwen2")
        json["decoder"] = ["type": "CTC"]
        assertThrows(.unsupportedType(section: "tokenizer.json.decoder", type: "CTC")) { try self.build(json) }
    }

    func testBadRegexAndBadMerge() throws {
        var json = try fixtureJSON("qwen2")
        var pre = json["pre_tokenizer"] as! [String: Any]
        var steps = pre["pretokenizers"] as! [[String: Any]]
        steps[0]["pattern"] = ["Regex": "(unclosed"]
        pre["pretokenizers"] = steps
        json["pre_tokenizer"] = pre
        XCTAssertThrowsError(try build(json)) { error in
            guard case .invalidRegex(let section, let pattern, _)? = error as? TokenizerError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(section, "tokenizer.json.pre_tokenizer.pretokenizers[0]")
            XCTAssertEqual(pattern, "(unclosed")
        }
        json = try fixtureJSON("qwen2")
        var model = json["model"] as! [String: Any]
        var merges = model["merges"] as! [Any]
        merges[3] = ["Ġ", "no-such-token"]
        model["merges"] = merges
        json["model"] = model
        assertThrows(.mergeTokenOutOfVocabulary(index: 3, token: "no-such-token")) { try self.build(json) }
    }

    func testTruncatedFileIsInvalidJSON() throws {
        let data = try Data(contentsOf: Fixtures.url("tokenizers/qwen2/tokenizer.json"))
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: data.prefix(data.count / 2), tokenizerConfigJSON: nil)) { error in
            guard case .invalidJSON(let file, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "tokenizer.json")
        }
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: Data("[1, 2]".utf8), tokenizerConfigJSON: nil)) { error in
            guard case .invalidJSON? = error as? TokenizerError else { return XCTFail("\(error)") }
        }
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try Tokenizer(directory: dir)) { error in
            guard case .fileUnreadable(let path, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("tokenizer.json"))
        }
    }

    func testMissingKeyAndWrongType() throws {
        var json = try fixtureJSON("qwen2")
        var model = json["model"] as! [String: Any]
        model.removeValue(forKey: "merges")
        json["model"] = model
        assertThrows(.missingKey(section: "tokenizer.json.model", key: "merges")) { try self.build(json) }
        json = try fixtureJSON("qwen2")
        var added = json["added_tokens"] as! [[String: Any]]
        added[2]["id"] = "twelve"
        json["added_tokens"] = added
        assertThrows(.invalidValue(section: "tokenizer.json.added_tokens[2]", key: "id", expected: "integer", actual: "string")) {
            try self.build(json)
        }
    }

    func testSpecialTokensAsObjectsAndMapFallback() throws {
        let json = try fixtureJSON("smollm2")
        let config: [String: Any] = [
            "bos_token": ["content": "<|im_start|>", "lstrip": false],
            "eos_token": "<|im_end|>",
            "pad_token": NSNull(),
            "chat_template": [["name": "tool_use", "template": "T"], ["name": "default", "template": "D"]],
        ]
        let map: [String: Any] = ["pad_token": ["content": "<|endoftext|>"], "eos_token": "<|endoftext|>"]
        let tokenizer = try Tokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: json),
                                      tokenizerConfigJSON: JSONSerialization.data(withJSONObject: config),
                                      specialTokensMapJSON: JSONSerialization.data(withJSONObject: map))
        XCTAssertEqual(tokenizer.bosToken, "<|im_start|>")
        XCTAssertEqual(tokenizer.eosToken, "<|im_end|>")       // config wins over the map
        XCTAssertEqual(tokenizer.padToken, "<|endoftext|>")    // null in config: the map fills it
        XCTAssertEqual(tokenizer.bosTokenID, 1)
        XCTAssertEqual(tokenizer.tokenizerConfigChatTemplate, "D")
        XCTAssertFalse(tokenizer.addBOSToken)   // SmolLM2's pipeline adds nothing
    }

    func testFindChatTemplatePrecedence() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertNil(try Tokenizer.findChatTemplate(in: dir))
        try Data(#"{"chat_template": "from config", "eos_token": "x"}"#.utf8)
            .write(to: dir.appendingPathComponent("tokenizer_config.json"))
        XCTAssertEqual(try Tokenizer.findChatTemplate(in: dir), "from config")
        try Data(#"{"chat_template": "from json"}"#.utf8).write(to: dir.appendingPathComponent("chat_template.json"))
        XCTAssertEqual(try Tokenizer.findChatTemplate(in: dir), "from json")
        try Data("from jinja {{ x }}\n".utf8).write(to: dir.appendingPathComponent("chat_template.jinja"))
        XCTAssertEqual(try Tokenizer.findChatTemplate(in: dir), "from jinja {{ x }}\n")
        // A broken chat_template.json is an error, not a silent fallback.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("chat_template.jinja"))
        try Data(#"{"chat_template": "#.utf8).write(to: dir.appendingPathComponent("chat_template.json"))
        XCTAssertThrowsError(try Tokenizer.findChatTemplate(in: dir)) { error in
            XCTAssertEqual((error as? TokenizerError).map { if case .invalidJSON(let f, _) = $0 { return f } else { return "" } },
                           "chat_template.json")
        }
    }
}

/// tokenizer_config.json switches, against transformers 5 `AutoTokenizer` on patched copies of the fixtures.
final class ConfigSwitchTests: XCTestCase {
    func tokenizer(_ name: String, patch: [String: Any]) throws -> Tokenizer {
        let dir = Fixtures.url("tokenizers/\(name)")
        var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("tokenizer_config.json"))) as? [String: Any])
        config.merge(patch) { $1 }
        return try Tokenizer(tokenizerJSON: Data(contentsOf: dir.appendingPathComponent("tokenizer.json")),
                             tokenizerConfigJSON: JSONSerialization.data(withJSONObject: config))
    }

    func testSplitSpecialTokensTokenizesThemAsText() throws {
        let t = try tokenizer("qwen2", patch: ["split_special_tokens": true])
        XCTAssertEqual(t.encode("<|im_start|>hi<|im_end|>"),
                       [27, 91, 72, 76, 62, 265, 367, 83, 91, 29, 749, 27, 91, 72, 76, 62, 68, 273, 91, 29])
        XCTAssertEqual(t.encode("Hello"), [507])
    }

    /// transformers 5 keeps tokenizer.json's post-processor whatever add_bos_token/add_eos_token say.
    func testAddBOSFlagsInConfigDoNotChangeThePipeline() throws {
        let t = try tokenizer("llama3", patch: ["add_bos_token": false, "add_eos_token": true])
        XCTAssertEqual(t.encode("Hello"), [1202, 510])
        XCTAssertEqual(t.encode("<|begin_of_text|>x"), [1202, 1202, 87])
        XCTAssertEqual(t.encode("Hello", addSpecialTokens: false), [510])
        XCTAssertTrue(t.addBOSToken)
    }
}
