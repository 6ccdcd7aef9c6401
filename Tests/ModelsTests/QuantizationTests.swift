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

    /// `--quant` at load (`Quantization.plan`) quantizes each matrix as the model is built: without packing
    /// the model holds exactly the matrices `apply` makes (the same logits, bit for bit); with packing
    /// (the default) every quantized matrix lives in the one weight arena, packed ones with no row-major
    /// copy left (`isPackedOnly`, which only the packed kernel reads, whatever `int8Activations` says), and
    /// the logits stay within the packed-vs-unpacked bound of GGUFModelTests (3e-2 of the largest logit:
    /// int8 rounding of the next layer's activations can flip on f32 summation order).
    func testQuantizingAtLoadMatchesQuantizingFirst() throws {
        let dir = Fixtures.url("models/smollm2-v5")
        let config = try TextConfig.parse(try JSONConfig.load(dir.appendingPathComponent("config.json")), modelType: "llama")
        let prompt = [5, 17, 200, 301, 44, 9, 1000]
        func run(_ m: DecoderModel) throws -> [Float] {
            var out = [Float](repeating: 0, count: m.logitCount)
            try out.withUnsafeMutableBufferPointer { try m.forward(tokens: prompt, cache: m.makeCache(capacity: 32), logits: $0.baseAddress!) }
            return out
        }
        func matrices(_ m: DecoderModel) -> [TensorView] {
            m.layers.flatMap { l in DecoderLayer.matrices.map { l[keyPath: $0] } } + [m.lmHead]
        }
        for dtype in [DType.q8_0, .q4_0] {
            let planned = try Quantization.plan(dtype, for: try WeightStore(directory: dir))
            XCTAssertFalse(planned.quantizeAtLoad.isEmpty)
            XCTAssertEqual(try planned.tensor("model.layers.0.self_attn.q_proj.weight").dtype, .f32, "the store itself is not quantized")
            let first = try DecoderModel(config: config, weights: try Quantization.apply(dtype, to: try WeightStore(directory: dir)))
            let expected = try run(first)

            DecoderModel.packWeights = false
            let plain = try DecoderModel(config: config, weights: planned)
            DecoderModel.packWeights = true
            for (a, b) in zip(matrices(plain), matrices(first)) {
                XCTAssertEqual(a.dtype, b.dtype, a.name)
                XCTAssertEqual(memcmp(a.data, b.data, a.byteCount), 0, "\(a.name): the same quantized bytes")
            }
            XCTAssertEqual(try run(plain), expected, "\(dtype): quantized while building, unpacked")

            let packed = try DecoderModel(config: config, weights: planned)
            let all = matrices(packed)
            XCTAssertEqual(all.map(\.dtype), matrices(first).map(\.dtype), "\(dtype): the same types")
            XCTAssertEqual(packed.lmHead.dtype, .q8_0, "\(dtype): the tied embedding is the output projection, kept at Q8_0")
            XCTAssertEqual(packed.layers[0].q.dtype, dtype)
            let quantized = all.filter { planned.quantizeAtLoad[$0.name] != nil }
            XCTAssertFalse(quantized.isEmpty)
            for w in quantized {
                let packable = Kernels.packedBytes(w.dtype, rows: w.rows, cols: w.cols) > 0
                XCTAssertEqual(w.isPackedOnly, packable, "\(w.name): packed only where this CPU packs \(w.dtype)")
            }
            if Kernels.activeISA == .avx512 {
                XCTAssertTrue(quantized.contains(where: \.isPackedOnly), "\(dtype): something packed on this CPU")
            }
            // One arena: every matrix's bytes lie in one span no longer than their sum (heap copies left
            // behind would sit elsewhere and stay allocated).
            let spans = all.map { w -> (Int, Int) in
                let p = Int(bitPattern: w.packed16.map { UnsafeRawPointer($0.raw) } ?? w.data)
                return (p, p + (w.packed16?.byteCount ?? w.byteCount))
            }
            let size = all.reduce(0) { $0 + PackArena.footprint($1.packed16?.byteCount ?? $1.byteCount) }
            XCTAssertLessThanOrEqual(spans.map(\.1).max()! - spans.map(\.0).min()!, size, "\(dtype): matrices in one arena")
            for w in quantized where w.isPackedOnly {
                // Row reads go through the packed layout: the rows of the matrix quantized first.
                let twin = try XCTUnwrap(matrices(first).first { $0.name == w.name })
                XCTAssertEqual(w.toFloats(), twin.toFloats(), "\(w.name): rows read back from the packed copy")
            }
            let logits = try run(packed)
            let scale = expected.map(abs).max()!
            XCTAssertLessThanOrEqual(closeness(logits, expected).maxAbsDiff, 3e-2 * scale, "\(dtype): packed at load")
            Kernels.int8Activations = false
            defer { Kernels.int8Activations = true }
            if Kernels.activeISA == .avx512 {
                // Packed-only matrices keep the packed kernel; the rest (down: 176 columns) runs in f32.
                let f32 = try run(packed)
                XCTAssertLessThanOrEqual(closeness(f32, expected).maxAbsDiff, 3e-2 * scale, "\(dtype): f32 activations elsewhere")
            }
        }
    }

    func testUnknownQuantIsAClearError() {
        XCTAssertThrowsError(try Quantization.parse("q3_k")) { error in
            XCTAssertTrue("\(error)".contains("q8_0"), "\(error)")
        }
    }
}
