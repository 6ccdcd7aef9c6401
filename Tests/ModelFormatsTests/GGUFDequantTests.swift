import Foundation
import XCTest
@testable import ModelFormats
import TensorCore
import TestSupport

/// Dequantization of every supported GGUF type against gguf-py's `gguf.quants.dequantize` of the same
/// stored bytes (Tests/Fixtures/gguf/types/<T>.npy). The comparison is bit-exact (f32 bit patterns, so
/// -0.0 vs +0.0 counts): the C kernel at every ISA level, TensorView's helpers and the Swift twin.
final class GGUFDequantTests: XCTestCase {
    static let types: [DType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    override func tearDown() { Kernels.setISA(nil) }

    private func assertBitExact(_ got: [Float], _ want: [Float], _ what: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        let bad = zip(got, want).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        if let first = bad.first {
            XCTFail("\(what): \(bad.count) of \(want.count) values differ; first at \(first.offset): "
                    + "\(first.element.0) vs reference \(first.element.1)", file: file, line: line)
        }
    }

    func testEveryTypeMatchesGGUFPyBitExactly() throws {
        let file = try GGUFFile(path: Fixtures.url("gguf/types.gguf").path)
        let isas = KernelISA.allCases.filter { $0 <= Kernels.detectedISA }
        for dtype in Self.types {
            let view = try file.tensor("t.\(dtype.rawValue)")
            XCTAssertEqual(view.dtype, dtype)
            let ref = try NPYArray(url: Fixtures.url("gguf/types/\(dtype.rawValue).npy"))
            XCTAssertEqual(ref.shape, view.shape)
            XCTAssertGreaterThan(ref.values.filter { $0 != 0 }.count, ref.values.count / 2, "fixture is not trivial")
            for isa in isas {
                Kernels.setISA(isa)
                var row = [Float](repeating: .nan, count: view.cols)
                for r in 0..<view.rows {
                    row.withUnsafeMutableBufferPointer { Kernels.convertRow(view, row: r, into: $0.baseAddress!) }
                    assertBitExact(row, ref.row(r), "\(dtype) row \(r) convertRow at \(isa)")
                }
            }
            Kernels.setISA(nil)
            assertBitExact(view.toFloats(), ref.values, "\(dtype) toFloats")
            assertBitExact(Reference.dequantize(dtype, view.data, count: view.count), ref.values, "\(dtype) Swift twin")
            var row = [Float](repeating: .nan, count: view.cols)
            row.withUnsafeMutableBufferPointer { view.row(2, into: $0.baseAddress!) }
            assertBitExact(row, ref.row(2), "\(dtype) TensorView.row")
            for i in [0, 31, 32, 700, view.count - 1] {
                XCTAssertEqual(view.element(i).bitPattern, ref.values[i].bitPattern, "\(dtype) element \(i)")
            }
        }
    }

    func testByteCountsAccountForBlocks() {
        XCTAssertEqual(DType.q8_0.byteCount(elements: 64), 68)
        XCTAssertEqual(DType.q4_K.byteCount(elements: 512), 288)
        XCTAssertEqual(DType.q6_K.byteCount(elements: 256 * 3), 630)
        XCTAssertEqual(DType.bf16.byteCount(elements: 7), 14)
        // Existing codes stay as they were (the C kernels and the safetensors names depend on them).
        XCTAssertEqual(DType.allCases.prefix(3).map(\.kernelCode), [0, 1, 2])
        XCTAssertEqual(DType.allCases.prefix(3).map(\.rawValue), ["F32", "F16", "BF16"])
        XCTAssertEqual(Set(DType.allCases.map(\.kernelCode)).count, DType.allCases.count)
        for d in DType.allCases {
            XCTAssertEqual(GGMLTypeCheck.blockSize(d), d.blockSize, "\(d)")
        }
    }
}

/// Block geometry as gguf-py states it (GGML_QUANT_SIZES), through the reader's type table.
private enum GGMLTypeCheck {
    static func blockSize(_ d: DType) -> Int? {
        let code: UInt32 = switch d {
        case .f32: 0
        case .f16: 1
        case .bf16: 30
        case .q8_0: 8
        case .q4_0: 2
        case .q4_1: 3
        case .q5_0: 6
        case .q5_1: 7
        case .q4_K: 12
        case .q5_K: 13
        case .q6_K: 14
        }
        guard let t = GGMLType.known(code), t.dtype == d else { return nil }
        return t.blockSize
    }
}
