import Foundation
import XCTest
@testable import ModelFormats
import TensorCore
import TestSupport

final class SafetensorsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try Fixtures.temporaryDirectory("st") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func sample() -> [TensorView] {
        [
            OwnedBuffer.tensor(name: "a.weight", shape: [2, 3], values: [1, -2, 3.5, 4, 5, -6], dtype: .f32),
            OwnedBuffer.tensor(name: "b.weight", shape: [3], values: [0.5, 1.5, -2.25], dtype: .bf16),
            OwnedBuffer.tensor(name: "c.bias", shape: [2], values: [0.1, -0.2], dtype: .f16),
        ]
    }

    /// Builds raw safetensors bytes from a header string and a data blob, to craft broken files.
    private func raw(header: String, data: [UInt8], claimedSize: UInt64? = nil) -> Data {
        var out = Data()
        var size = (claimedSize ?? UInt64(header.utf8.count)).littleEndian
        withUnsafeBytes(of: &size) { out.append(contentsOf: $0) }
        out.append(header.data(using: .utf8)!)
        out.append(contentsOf: data)
        return out
    }

    private func expectError(_ data: Data, _ check: (ModelFormatError) -> Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = dir.appendingPathComponent("bad.safetensors")
        try data.write(to: url)
        XCTAssertThrowsError(try SafetensorsFile(path: url.path), file: file, line: line) { error in
            guard let e = error as? ModelFormatError else { return XCTFail("wrong error \(error)", file: file, line: line) }
            XCTAssertTrue(check(e), "unexpected: \(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(url.path), "message should name the file: \(e)", file: file, line: line)
        }
    }

    func testRoundTripAllDTypes() throws {
        let url = dir.appendingPathComponent("model.safetensors")
        try SafetensorsWriter.write(sample(), to: url, metadata: ["format": "pt"])
        let file = try SafetensorsFile(path: url.path)
        XCTAssertEqual(file.metadata["format"], "pt")
        XCTAssertEqual(file.tensors["a.weight"]?.toFloats(), [1, -2, 3.5, 4, 5, -6])
        XCTAssertEqual(file.tensors["b.weight"]?.toFloats(), [0.5, 1.5, -2.25])
        XCTAssertEqual(file.tensors["b.weight"]?.dtype, .bf16)
        let c = try XCTUnwrap(file.tensors["c.bias"]?.toFloats())
        XCTAssertEqual(c[0], 0.1, accuracy: 1e-3)
        XCTAssertEqual(c[1], -0.2, accuracy: 1e-3)
    }

    func testTruncatedFileNamesTensor() throws {
        var data = try SafetensorsWriter.data(sample())
        data.removeLast(5)
        try expectError(data) { if case let .tensorOutOfBounds(_, tensor, _, _, _) = $0 { tensor == "b.weight" } else { false } }
    }

    func testTooShortForHeader() throws {
        try expectError(Data([1, 2, 3])) { if case .truncatedHeader = $0 { true } else { false } }
        try expectError(Data()) { if case .truncatedHeader = $0 { true } else { false } }
    }

    func testHeaderLengthLies() throws {
        try expectError(raw(header: "{}", data: [], claimedSize: 1 << 40)) {
            if case .headerTooLarge = $0 { true } else { false }
        }
    }

    func testInvalidJSONAndEntries() throws {
        try expectError(raw(header: "{not json", data: [])) { if case .invalidHeader = $0 { true } else { false } }
        try expectError(raw(header: "[1,2]", data: [])) { if case .invalidHeader = $0 { true } else { false } }
        try expectError(raw(header: #"{"x":{"dtype":"F32","shape":[2]}}"#, data: [0, 0, 0, 0, 0, 0, 0, 0])) {
            if case let .invalidTensorEntry(_, t, reason) = $0 { t == "x" && reason.contains("data_offsets") } else { false }
        }
        try expectError(raw(header: #"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])) {
            if case .invalidTensorEntry = $0 { true } else { false }
        }
    }

    func testShapeDisagreesWithOffsets() throws {
        try expectError(raw(header: #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8))) {
            if case let .sizeMismatch(_, t, _, _, expected, actual) = $0 { t == "x" && expected == 12 && actual == 8 } else { false }
        }
        // A shape whose element count overflows must not crash.
        try expectError(raw(header: #"{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8))) {
            if case .sizeMismatch = $0 { true } else { if case .invalidTensorEntry = $0 { true } else { false } }
        }
    }

    func testUnsupportedDTypeOnlyFailsWhenUsed() throws {
        let header = #"{"pos":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#
        try raw(header: header, data: Array(repeating: 0, count: 16)).write(to: dir.appendingPathComponent("model.safetensors"))
        let store = try WeightStore(directory: dir)
        XCTAssertEqual(try store.tensor("w").shape, [2])
        XCTAssertThrowsError(try store.tensor("pos")) { error in
            guard case let .unsupportedDType(_, t, dtype)? = error as? ModelFormatError else { return XCTFail("\(error)") }
            XCTAssertEqual(t, "pos"); XCTAssertEqual(dtype, "I64")
        }
        XCTAssertThrowsError(try store.tensor("nope")) { error in
            guard case .missingTensor? = error as? ModelFormatError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try store.tensor("w", shape: [3]))
    }

    func testShardedIndex() throws {
        let t = sample()
        try SafetensorsWriter.write([t[0]], to: dir.appendingPathComponent("model-00001-of-00002.safetensors"))
        try SafetensorsWriter.write([t[1], t[2]], to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        let index = #"{"metadata":{"total_size":42},"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b.weight":"model-00002-of-00002.safetensors","c.bias":"model-00002-of-00002.safetensors"}}"#
        try index.write(to: dir.appendingPathComponent("model.safetensors.index.json"), atomically: true, encoding: .utf8)
        let store = try WeightStore(directory: dir)
        XCTAssertEqual(store.files.count, 2)
        XCTAssertEqual(store.names, ["a.weight", "b.weight", "c.bias"])
        XCTAssertEqual(try store.tensor("b.weight").toFloats(), [0.5, 1.5, -2.25])
    }

    func testMissingShardAndEmptyDirectory() throws {
        XCTAssertThrowsError(try WeightStore(directory: dir)) { error in
            guard case .noWeights? = error as? ModelFormatError else { return XCTFail("\(error)") }
        }
        let index = #"{"weight_map":{"a.weight":"model-00001-of-00002.safetensors"}}"#
        try index.write(to: dir.appendingPathComponent("model.safetensors.index.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try WeightStore(directory: dir)) { error in
            guard case let .missingShard(_, shard)? = error as? ModelFormatError else { return XCTFail("\(error)") }
            XCTAssertEqual(shard, "model-00001-of-00002.safetensors")
        }
        try "{\"weight_map\": 3}".write(to: dir.appendingPathComponent("model.safetensors.index.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try WeightStore(directory: dir)) { error in
            guard case .invalidIndex? = error as? ModelFormatError else { return XCTFail("\(error)") }
        }
    }

    func testWeightsAreMappedNotCopied() throws {
        let url = dir.appendingPathComponent("model.safetensors")
        try SafetensorsWriter.write(sample(), to: url)
        let file = try SafetensorsFile(path: url.path)
        let view = try XCTUnwrap(file.tensors["a.weight"])
        let base = try XCTUnwrap(file.mapping.base)
        XCTAssertTrue(view.data >= base && view.data < base + file.mapping.size, "view must point into the mapping")
    }
}
