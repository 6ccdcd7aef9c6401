import Foundation
import XCTest
import ModelFormats
@testable import Models
import TensorCore
import TestSupport

/// Squint's f32 -> Q4_K against llama.cpp's own: random rows (several magnitudes, all-positive,
/// all-negative, zero, constant, sparse and heavy-tailed rows) quantized by libggml's ggml_quantize_chunk
/// (make_quantize_fixtures.py). The same operations in the same order give the same bytes.
final class Q4KQuantizerTests: XCTestCase {
    func testQ4KIsByteIdenticalToLlamaCpp() throws {
        let dir = Fixtures.url("gguf-quantize")
        let rowsURL = dir.appendingPathComponent("q4_k_rows.f32")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: rowsURL.path), "gguf-quantize fixtures missing")
        let raw = try Data(contentsOf: rowsURL)
        let cols = 512, rows = raw.count / 4 / cols
        XCTAssertEqual(rows * cols * 4, raw.count)
        let values = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let source = OwnedBuffer.tensor(name: "rows", shape: [rows, cols], values: values)
        XCTAssertTrue(Quantizer.canQuantize(source, to: .q4_K))
        let mine = Quantizer.quantize(source, to: .q4_K)
        let reference = try Data(contentsOf: dir.appendingPathComponent("q4_k_rows.q4_k"))
        XCTAssertEqual(mine.byteCount, reference.count)
        let blockBytes = DType.q4_K.blockBytes
        var differing: [Int] = []
        reference.withUnsafeBytes { ref in
            for b in 0..<reference.count / blockBytes where memcmp(mine.data + b * blockBytes, ref.baseAddress! + b * blockBytes, blockBytes) != 0 {
                differing.append(b)
            }
        }
        XCTAssertEqual(differing, [], "Q4_K blocks differing from llama.cpp's")
        // And the blocks decode to something close to the input (a sanity check on the layout).
        let decoded = mine.toFloats()
        let d = closeness(decoded, values)
        XCTAssertLessThan(d.nmse, 0.02, "\(d)")
    }

    func testQuantAtLoadAcceptsQ4K() throws {
        XCTAssertEqual(try Quantization.parse("q4_k"), .q4_K)
        XCTAssertEqual(try Quantization.parse("Q4_K"), .q4_K)
        // Rows of 64 are not whole super-blocks: such matrices fall back to Q8_0 at load.
        let m = OwnedBuffer.tensor(name: "model.layers.0.mlp.up_proj.weight", shape: [2, 64], values: Array(repeating: 0.5, count: 128))
        XCTAssertEqual(Quantization.target(for: m.name, view: m, requested: .q4_K), .q8_0)
        let big = OwnedBuffer.tensor(name: "model.layers.0.mlp.up_proj.weight", shape: [2, 256], values: Array(repeating: 0.5, count: 512))
        XCTAssertEqual(Quantization.target(for: big.name, view: big, requested: .q4_K), .q4_K)
        XCTAssertEqual(Quantization.target(for: "lm_head.weight", view: big, requested: .q4_K), .q8_0)
        XCTAssertEqual(Quantization.target(for: "language_model.lm_head.weight", view: big, requested: .q4_K), .q8_0)
        // A tied embedding is the output projection: Q8_0 too; untied, it takes the requested type.
        let embedding = "model.embed_tokens.weight"
        XCTAssertEqual(Quantization.target(for: embedding, view: big, requested: .q4_K, outputIsEmbedding: true), .q8_0)
        XCTAssertEqual(Quantization.target(for: embedding, view: big, requested: .q4_0, outputIsEmbedding: true), .q8_0)
        XCTAssertEqual(Quantization.target(for: embedding, view: big, requested: .q4_0), .q4_0)
    }
}
