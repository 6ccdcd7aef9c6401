import Foundation
import XCTest
@testable import ModelFormats
import TensorCore

/// GGUFWriter's bytes read back through GGUFFile: every metadata type (nested arrays included), key order,
/// tensor infos, alignment and data.
final class GGUFWriterTests: XCTestCase {
    private func path(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("squint-gguf-writer-\(getpid())-\(name)").path
    }

    func testRoundTripThroughTheReader() throws {
        for alignment in [32, 64] {
            var w = GGUFWriter(alignment: alignment)
            let values: [(String, GGUFValue)] = [
                ("general.architecture", .string("llama")),
                ("u8", .uint8(250)), ("i8", .int8(-7)), ("u16", .uint16(65000)), ("i16", .int16(-32000)),
                ("u32", .uint32(4_000_000_000)), ("i32", .int32(-2_000_000_000)),
                ("u64", .uint64(UInt64.max)), ("i64", .int64(Int64.min)),
                ("f32", .float32(-1.5e-7)), ("f64", .float64(3.141592653589793)), ("bool", .bool(true)),
                ("string", .string("héllo 🦊\n")), ("empty", .string("")),
                ("strings", .array(.string, [.string("a"), .string(""), .string("Ġb c")])),
                ("ints", .array(.int32, [.int32(1), .int32(-2)])), ("none", .array(.float32, [])),
                ("nested", .array(.array, [.array(.uint8, [.uint8(1), .uint8(2)]), .array(.string, [.string("x")])])),
            ]
            for (k, v) in values { w.set(k, v) }
            let a = OwnedBuffer.tensor(name: "a", shape: [3, 5], values: (0..<15).map(Float.init))
            let b = OwnedBuffer.tensor(name: "b", shape: [7], values: (0..<7).map { Float($0) * 0.5 }, dtype: .f16)
            let q = Quantizer.quantize(OwnedBuffer.tensor(name: "q", shape: [2, 64], values: (0..<128).map { sinf(Float($0)) }), to: .q8_0)
            for t in [a, b, q] { try w.add(t) }
            XCTAssertThrowsError(try w.add(a), "a duplicate name")
            let p = path("rt\(alignment).gguf")
            try w.write(to: p)
            let f = try GGUFFile(path: p)
            XCTAssertEqual(f.version, 3)
            XCTAssertEqual(f.alignment, alignment)
            XCTAssertEqual(f.dataOffset % alignment, 0)
            let expectedKeys = (alignment == 32 ? [] : ["general.alignment"]) + values.map(\.0)
            XCTAssertEqual(f.metadataKeys, expectedKeys)
            for (k, v) in values { XCTAssertEqual(f.metadata[k], v, k) }
            XCTAssertEqual(f.tensorNames, ["a", "b", "q"])
            XCTAssertEqual(f.tensors["a"]?.dims, [5, 3], "GGUF dims are innermost first")
            XCTAssertEqual(f.tensors["q"]?.type.name, "Q8_0")
            for t in [a, b, q] {
                XCTAssertEqual(f.tensors[t.name]!.offset % alignment, 0)
                let raw = try f.rawData(t.name)
                XCTAssertEqual(raw.count, t.byteCount)
                XCTAssertEqual(memcmp(raw.baseAddress!, t.data, t.byteCount), 0, t.name)
            }
            XCTAssertEqual(try f.tensor("b").toFloats(), (0..<7).map { Float($0) * 0.5 })
            XCTAssertFalse(FileManager.default.fileExists(atPath: p + ".partial"))
        }
    }

    func testMistypedArrayAndBadPathAreErrors() throws {
        var w = GGUFWriter()
        w.set("bad", .array(.int32, [.int32(1), .string("x")]))
        XCTAssertThrowsError(try w.header())
        XCTAssertThrowsError(try GGUFWriter().write(to: "/nonexistent-dir/x.gguf")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent-dir/x.gguf"), "\(error)")
        }
    }
}
