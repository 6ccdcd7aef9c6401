import Foundation
import XCTest
import ModelFormats
@testable import Models
import TensorCore
import TestSupport

final class QuantizationTests: XCTestCase {
    /// Our f32 -> Q8_0 / Q4_0 writes the same bytes as gguf-py's `gguf.quants.quantize` (types.gguf holds a
    /// random f32 matrix and gguf-py's quantisations of it, zero and asymmetric blocks included).
    func testQuantizerIsByteIdenticalToGGUFPy() throws {
        let file = try GGUFFile(path: Fixtures.url("gguf/types.gguf").path)
        let source = try file.tensor("t.F32")
        for (dtype, name) in [(DType.q8_0, "t.Q8_0"), (.q4_0, "t.Q4_0")] {
            let mine = Quantizer.quantize(source, to: dtype)
            let reference = try file.rawData(name)
            XCTAssertEqual(mine.byteCount, reference.count, name)
            let same = memcmp(mine.data, reference.baseAddress!, reference.count) == 0
            XCTAssertTrue(same, "\(name): bytes differ from gguf-py's")
        }
    }

    /// A model quantized at load computes what the same model with the dequantized weights computes when
    /// the quantized kernels keep activations in f32 (Kernels.matmulF32Activations), and stays near the
    /// original model with the default int8 activations too.
    func testQuantizedModelMatchesItsDequantizedTwin() throws {
        let dir = Fixtures.url("models/smollm2-v5")
        let original = try WeightStore(directory: dir)
        let quantized = try Quantization.apply(.q8_0, to: original)
        XCTAssertTrue(quantized.names.contains { try! quantized.tensor($0).dtype == .q8_0 }, "something was quantized")
        XCTAssertEqual(try quantized.tensor("model.norm.weight").dtype, try original.tensor("model.norm.weight").dtype)
        // The twin: every quantized matrix dequantized back to f32.
        let twin = WeightStore(tensors: try quantized.names.map { name in
            let t = try quantized.tensor(name)
            return t.dtype.isQuantized ? OwnedBuffer.tensor(name: name, shape: t.shape, values: t.toFloats()) : t
        }, directory: dir)
        let config = try TextConfig.parse(try JSONConfig.load(dir.appendingPathComponent("config.json")), modelType: "llama")
        let models = try [quantized, twin, original].map { try DecoderModel(config: config, weights: $0) }
        let prompt = [5, 17, 200, 301, 44, 9, 1000]
        func run(_ m: DecoderModel) throws -> [Float] {
            var out = [Float](repeating: 0, count: m.logitCount)
            try out.withUnsafeMutableBufferPointer { try m.forward(tokens: prompt, cache: m.makeCache(capacity: 32), logits: $0.baseAddress!) }
            return out
        }
        let logits = try models.map(run)
        Kernels.int8Activations = false
        defer { Kernels.int8Activations = true }
        let f32Activations = try run(models[0])
        Kernels.int8Activations = true
        let scale = logits[2].map(abs).max()!
        let kernel = closeness(f32Activations, logits[1])
        XCTAssertLessThanOrEqual(kernel.maxAbsDiff, 1e-4 * scale, "quantized kernels (f32 activations) vs dequantized f32: \(kernel)")
        // int8 activations round each x by up to half a step of its block's max / 127: a small drift.
        let int8 = closeness(logits[0], logits[1])
        XCTAssertLessThanOrEqual(int8.nmse, 1e-3, "int8 activations vs dequantized f32: \(int8)")
        XCTAssertGreaterThan(int8.maxAbsDiff, 0, "the default path rounds activations")
        let drift = closeness(logits[0], logits[2])
        XCTAssertLessThanOrEqual(drift.nmse, 1e-3, "Q8_0 should stay close to the f32 model: \(drift)")
    }

    func testUnknownQuantIsAClearError() {
        XCTAssertThrowsError(try Quantization.parse("q3_k")) { error in
            XCTAssertTrue("\(error)".contains("q8_0"), "\(error)")
        }
    }
}
