import Foundation
import TestSupport
import XCTest
@testable import Tokenizers

final class JSONParserTests: XCTestCase {
    /// Structural equality with Foundation's parser (the reference here) on a value tree.
    func assertSame(_ mine: JSON, _ theirs: Any, path: String = "$", file: StaticString = #filePath, line: UInt = #line) {
        switch mine {
        case .null: XCTAssertTrue(theirs is NSNull, path, file: file, line: line)
        case .bool(let b): XCTAssertEqual(theirs as? Bool, b, path, file: file, line: line)
        case .int(let n): XCTAssertEqual((theirs as? NSNumber)?.intValue, n, path, file: file, line: line)
        case .double(let d): XCTAssertEqual((theirs as? NSNumber)?.doubleValue, d, path, file: file, line: line)
        case .string(let s):
            XCTAssertTrue((theirs as? String)?.utf8.elementsEqual(s.utf8) == true, path, file: file, line: line)
        case .array(let a):
            guard let t = theirs as? [Any], t.count == a.count else { return XCTFail("\(path): array", file: file, line: line) }
            for i in a.indices { assertSame(a[i], t[i], path: "\(path)[\(i)]", file: file, line: line) }
        case .object(let o):
            guard let t = theirs as? [String: Any], t.count == o.keys.count else {
                return XCTFail("\(path): object", file: file, line: line)
            }
            for (k, v) in zip(o.keys, o.values) {
                guard let tv = t[k] else { return XCTFail("\(path).\(k) missing", file: file, line: line) }
                assertSame(v, tv, path: "\(path).\(k)", file: file, line: line)
            }
        }
    }

    func testFixtureFilesParseLikeJSONSerialization() throws {
        for name in ["qwen2", "llama3", "smollm2"] {
            for file in ["tokenizer.json", "tokenizer_config.json", "reference.json"] {
                let data = try Data(contentsOf: Fixtures.url("tokenizers/\(name)/\(file)"))
                assertSame(try JSONParser.parse(data), try JSONSerialization.jsonObject(with: data), path: "\(name)/\(file)")
            }
        }
    }

    func testEscapesNumbersAndLiterals() throws {
        let text = #"{"a": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\u4e2d", "n": [0, -12, 3.5, 1e3, -2.5E-2, true, false, null],"#
            + #" "lone": "\ud800x", "empty": {}, "e2": [], "dup": 1, "dup": 2}"#
        let value = try JSONParser.parse(Data(text.utf8))
        guard case .object(let o) = value else { return XCTFail("not an object") }
        XCTAssertEqual(o["a"]?.string, "x\"\\/\u{8}\u{C}\n\r\té😀中")
        XCTAssertEqual(o["lone"]?.string, "\u{FFFD}x")
        XCTAssertEqual(o["dup"]?.int, 2)
        guard case .array(let n)? = o["n"] else { return XCTFail("n") }
        XCTAssertEqual(n[0].int, 0)
        XCTAssertEqual(n[1].int, -12)
        if case .double(let d) = n[2] { XCTAssertEqual(d, 3.5) } else { XCTFail("3.5") }
        if case .double(let d) = n[3] { XCTAssertEqual(d, 1000) } else { XCTFail("1e3") }
        if case .double(let d) = n[4] { XCTAssertEqual(d, -0.025) } else { XCTFail("-2.5E-2") }
        XCTAssertEqual(n[5].kind, "boolean")
        XCTAssertTrue(n[7].isNull)
        XCTAssertEqual(o["empty"]?.object?.keys, [])
        XCTAssertEqual(o["e2"]?.array?.count, 0)
    }

    func testMalformedInputThrowsWithOffset() {
        for bad in ["", "{", "{\"a\": ", "{\"a\" 1}", "[1, 2", "[1,]", "\"abc", "tru", "{\"a\": 01x}", "[1] 2", "\"\u{1}\"",
                    "{\"a\": \"\\q\"}", "-", String(repeating: "[", count: 1000)] {
            XCTAssertThrowsError(try JSONParser.parse(Data(bad.utf8)), bad.debugDescription) { error in
                XCTAssertTrue(error is JSONParseError, "\(error)")
            }
        }
    }
}
