import Foundation
import XCTest
@testable import ModelFormats
import TensorCore
import TestSupport

/// The GGUF reader against files written by gguf-py (Scripts/fixtures/make_gguf_fixtures.py).
final class GGUFTests: XCTestCase {
    private func fixture(_ name: String) -> String { Fixtures.url("gguf/\(name)").path }

    // MARK: Metadata

    /// The value gguf-py wrote, rebuilt from metadata.json (64-bit ints and floats as exact strings/bits).
    private func expectedValue(_ e: [String: Any], type: String) throws -> GGUFValue {
        func int64() throws -> String { try XCTUnwrap((e["int"] as? String) ?? (e["value"] as? NSNumber)?.stringValue) }
        switch type {
        case "uint8": return .uint8(try XCTUnwrap(e["value"] as? NSNumber).uint8Value)
        case "int8": return .int8(try XCTUnwrap(e["value"] as? NSNumber).int8Value)
        case "uint16": return .uint16(try XCTUnwrap(e["value"] as? NSNumber).uint16Value)
        case "int16": return .int16(try XCTUnwrap(e["value"] as? NSNumber).int16Value)
        case "uint32": return .uint32(try XCTUnwrap(e["value"] as? NSNumber).uint32Value)
        case "int32": return .int32(try XCTUnwrap(e["value"] as? NSNumber).int32Value)
        case "uint64": return .uint64(try XCTUnwrap(UInt64(try int64())))
        case "int64": return .int64(try XCTUnwrap(Int64(try int64())))
        case "float32": return .float32(Float(bitPattern: try XCTUnwrap(e["f32bits"] as? NSNumber).uint32Value))
        case "float64": return .float64(Double(bitPattern: try XCTUnwrap(UInt64(try XCTUnwrap(e["f64bits"] as? String)))))
        case "bool": return .bool(try XCTUnwrap(e["value"] as? Bool))
        case "string": return .string(try XCTUnwrap(e["value"] as? String))
        case "array":
            let element = try XCTUnwrap(e["element"] as? String)
            let items = try XCTUnwrap(e["items"] as? [[String: Any]])
            let elementType = try XCTUnwrap(GGUFValueType.allCases.first { Self.pyName($0) == element })
            return .array(elementType, try items.map { try expectedValue($0, type: ($0["type"] as? String) ?? element) })
        default:
            throw XCTSkip("unknown type \(type)")
        }
    }

    private static func pyName(_ t: GGUFValueType) -> String {
        switch t {
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .uint32: "uint32"
        case .int32: "int32"
        case .uint64: "uint64"
        case .int64: "int64"
        case .float32: "float32"
        case .float64: "float64"
        case .bool: "bool"
        case .string: "string"
        case .array: "array"
        }
    }

    func testEveryMetadataTypeRoundTrips() throws {
        let file = try GGUFFile(path: fixture("metadata.gguf"))
        let json = try XCTUnwrap(Fixtures.json("gguf/metadata.json") as? [String: Any])
        let keys = try XCTUnwrap(json["keys"] as? [String])
        let values = try XCTUnwrap(json["values"] as? [String: [String: Any]])
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.metadataKeys, keys, "keys in file order")
        for key in keys {
            let e = try XCTUnwrap(values[key])
            let expected = try expectedValue(e, type: try XCTUnwrap(e["type"] as? String))
            XCTAssertEqual(file.metadata[key], expected, key)
        }
        // Every value type appears, as a scalar and as an array element.
        let scalarTypes = Set(file.metadata.values.map(\.type))
        XCTAssertEqual(scalarTypes, Set(GGUFValueType.allCases))
        XCTAssertEqual(file.metadata["m.string"]?.string, "héllo ✓ 世界")
        XCTAssertEqual(file.metadata["a.string"]?.strings, ["a", "", "<|im_end|>", "Ġthe"])
        XCTAssertEqual(file.metadata["m.u32"]?.int, 4_000_000_000)
        XCTAssertEqual(file.metadata["m.f32"]?.double, Double(Float(0.1)))
        XCTAssertEqual(file.metadata["a.nested"]?.array?.count, 3)
        XCTAssertEqual(try file.tensor("one").toFloats(), [42])
    }

    // MARK: Tensors

    /// Arrays longer than the limit go (a vocabulary once the tokenizer holds it); shorter arrays, every
    /// scalar and the list of keys stay.
    func testDroppingLongMetadataArrays() throws {
        let file = try GGUFFile(path: fixture("metadata.gguf"))
        let before = file.metadata
        let counts = before.compactMapValues { v -> Int? in
            if case let .array(_, items) = v { return items.count }
            return nil
        }
        let longest = try XCTUnwrap(counts.values.max())
        XCTAssertGreaterThan(counts.count, 1, "the fixture has several arrays")
        file.dropMetadataArrays(longerThan: longest - 1)
        for (key, value) in before {
            if let n = counts[key], n > longest - 1 {
                XCTAssertNil(file.metadata[key], "\(key): \(n) elements dropped")
            } else {
                XCTAssertEqual(file.metadata[key], value, "\(key) kept")
            }
        }
        XCTAssertEqual(Set(file.metadataKeys), Set(before.keys))
    }

    func testTensorInfosAndShapes() throws {
        let file = try GGUFFile(path: fixture("types.gguf"))
        XCTAssertEqual(file.alignment, 32)
        XCTAssertEqual(file.dataOffset % 32, 0)
        XCTAssertEqual(file.tensorNames.first, "t.F32")
        let q = try XCTUnwrap(file.tensors["t.Q4_K"])
        XCTAssertEqual(q.dims, [512, 3])
        XCTAssertEqual(q.shape, [3, 512])
        XCTAssertEqual(q.type.name, "Q4_K")
        XCTAssertEqual(q.byteCount, 3 * 2 * 144)
        XCTAssertEqual(try file.rawData("t.Q4_K").count, 864)
        let view = try file.tensor("t.Q6_K")
        XCTAssertEqual(view.dtype, .q6_K)
        XCTAssertEqual(view.shape, [3, 512])
        XCTAssertEqual(view.byteCount, 3 * 2 * 210)
        // GGUF lists dims innermost first: gguf-py wrote numpy shape (2, 3, 4) as [4, 3, 2].
        let cube = try XCTUnwrap(file.tensors["cube"])
        XCTAssertEqual(cube.dims, [4, 3, 2])
        let cubeView = try file.tensor("cube")
        XCTAssertEqual(cubeView.shape, [2, 3, 4])
        XCTAssertEqual(cubeView.toFloats(), try NPYArray(url: Fixtures.url("gguf/types/cube.npy")).values)
        XCTAssertThrowsError(try file.tensor("nope")) { e in
            guard case .missingTensor = e as? ModelFormatError else { return XCTFail("\(e)") }
        }
    }

    func testVersion2AndCustomAlignment() throws {
        let v2 = try GGUFFile(path: fixture("v2.gguf"))
        let v3 = try GGUFFile(path: fixture("v3.gguf"))
        XCTAssertEqual(v2.version, 2)
        XCTAssertEqual(v3.version, 3)
        for f in [v2, v3] {
            XCTAssertEqual(try f.tensor("w").toFloats(), (0..<64).map { (Float($0) - 20) / 8 })
            XCTAssertEqual(try f.tensor("v").shape, [2, 3])
            XCTAssertEqual(try f.tensor("v").toFloats(), [0, 1, 2, 3, 4, 5])
        }
        let a = try GGUFFile(path: fixture("align64.gguf"))
        XCTAssertEqual(a.alignment, 64)
        XCTAssertEqual(a.dataOffset % 64, 0)
        XCTAssertEqual(a.metadata["general.alignment"], .uint32(64))
        XCTAssertEqual(try a.tensor("v").toFloats(), [0, 1, 2, 3, 4, 5])
        XCTAssertTrue(GGUFFile.hasMagic(path: fixture("v2.gguf")))
        XCTAssertFalse(GGUFFile.hasMagic(path: fixture("bad/bad_magic.gguf")))
    }

    func testUnsupportedTypeIsAnErrorOnlyWhenAsked() throws {
        let file = try GGUFFile(path: fixture("types.gguf"))
        XCTAssertEqual(try file.rawData("t.Q2_K").count, 3 * 2 * 84)
        XCTAssertThrowsError(try file.tensor("t.Q2_K")) { e in
            guard case let .unsupportedDType(path, tensor, dtype) = e as? ModelFormatError else { return XCTFail("\(e)") }
            XCTAssertEqual([path, tensor, dtype], [file.path, "t.Q2_K", "Q2_K"])
        }
        let (views, unsupported) = file.views()
        XCTAssertEqual(unsupported, ["t.Q2_K": "Q2_K"])
        XCTAssertEqual(views.count, file.tensors.count - 1)
        XCTAssertEqual(views["t.Q5_K"]?.dtype, .q5_K)
        let store = WeightStore(gguf: file)
        XCTAssertEqual(try store.tensor("t.Q8_0", shape: [3, 512]).dtype, .q8_0)
        XCTAssertThrowsError(try store.tensor("t.Q2_K")) { e in
            guard case .unsupportedDType(file.path, "t.Q2_K", "Q2_K") = e as? ModelFormatError else { return XCTFail("\(e)") }
        }
        XCTAssertEqual(store.totalBytes, file.tensors.values.filter { $0.type.dtype != nil }.reduce(0) { $0 + $1.byteCount })
        XCTAssertEqual(GGMLType.known(12)?.dtype, .q4_K)
        XCTAssertNil(GGMLType.known(4), "type 4 was removed from ggml")
    }

    // MARK: Corrupt files

    func testEveryCorruptFileGivesItsError() throws {
        let cases = try XCTUnwrap(Fixtures.json("gguf/bad/expected.json") as? [String: [String: String]])
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        XCTAssertNoThrow(try GGUFFile(path: fixture("bad/valid.gguf")))
        for (name, expect) in cases.sorted(by: { $0.key < $1.key }) {
            let path = fixture("bad/\(name).gguf")
            let kind = expect["kind"] ?? "", detail = expect["detail"] ?? ""
            XCTAssertThrowsError(try GGUFFile(path: path), name) { error in
                guard let e = error as? ModelFormatError else { return XCTFail("\(name): \(error)") }
                let text = e.description
                XCTAssertTrue(text.hasPrefix(path), "\(name): message should name the file: \(text)")
                let matches: Bool = switch (kind, e) {
                case ("badMagic", .ggufBadMagic): true
                case ("unsupportedVersion", let .ggufUnsupportedVersion(_, v)): "\(v)" == detail
                case ("truncated", let .ggufTruncated(_, _, _, _, reading)): reading.contains(detail)
                case ("invalid", let .ggufInvalid(_, context, _)): context.contains(detail)
                case ("outOfBounds", let .tensorOutOfBounds(_, tensor, _, _, _)): tensor == detail
                case ("tensorEntry", let .invalidTensorEntry(_, tensor, _)): tensor == detail
                default: false
                }
                XCTAssertTrue(matches, "\(name): expected \(kind) '\(detail)', got \(text)")
            }
        }
    }

    /// Every prefix of a valid file is either rejected with a ModelFormatError or (once the header is
    /// complete and the data fits) accepted: no prefix may crash or read out of bounds.
    func testEveryTruncationIsAnError() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: fixture("bad/valid.gguf")))
        let dir = try Fixtures.temporaryDirectory("gguf")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("cut.gguf")
        let lastTensorEnd = 480 + 12  // "v" (12 bytes) at 480: make_gguf_fixtures.py prints these offsets
        for n in 0..<full.count {
            try full.prefix(n).write(to: url)
            do {
                _ = try GGUFFile(path: url.path)
                XCTAssertGreaterThanOrEqual(n, lastTensorEnd, "prefix of \(n) bytes accepted")
            } catch let e as ModelFormatError {
                XCTAssertTrue(e.description.contains(url.path))
                XCTAssertLessThan(n, lastTensorEnd, "prefix of \(n) bytes rejected: \(e)")
            }
        }
    }

    func testMissingFile() {
        XCTAssertThrowsError(try GGUFFile(path: "/nonexistent/x.gguf")) { e in
            guard case .cannotRead = e as? ModelFormatError else { return XCTFail("\(e)") }
        }
    }
}
