import TensorCore
import TestSupport
import XCTest

/// The kernels against outputs of torch / transformers themselves (Tests/Fixtures/kernels/ops.json, made by
/// Scripts/fixtures/kernel_ops.py): pins the semantics (Qwen2 and Gemma3 RMSNorm, silu, causal offset
/// masking, GQA head mapping), where the Reference twins only pin the arithmetic.
final class TorchReferenceTests: XCTestCase {
    private struct Ops: Decodable {
        struct Matmul: Decodable { let dtype: String; let rows, cols, n: Int; let w, x, y: [Float] }
        struct RMSNorm: Decodable {
            let style, dtype: String
            let n, rows: Int
            let eps: Float
            let weight_offset: Float
            let x, w, y: [Float]
        }
        struct SiluMul: Decodable { let gate, up, y: [Float] }
        struct Attention: Decodable {
            let n_heads, kv_heads, head_dim, nq, p0: Int
            let causal: Bool
            let scale: Float
            let q, k, v, out: [Float]
        }
        struct LayerNorm: Decodable {
            let dtype: String
            let n, rows: Int
            let eps: Float
            let x, w: [Float]
            let b: [Float]?
            let y: [Float]
        }
        struct Activations: Decodable {
            let x, gelu, gelu_pytorch_tanh, quick_gelu, silu: [Float]
        }
        let matmul: [Matmul]
        let layernorm: [LayerNorm]
        let activations: Activations
        let rmsnorm: [RMSNorm]
        let silu_mul: SiluMul
        let attention: [Attention]
    }

    private func load() throws -> Ops { try Fixtures.decode(Ops.self, "kernels/ops.json") }

    private func dtype(_ name: String) throws -> DType {
        try XCTUnwrap(DType(rawValue: name), "unknown dtype \(name) in ops.json")
    }

    func testMatmulMatchesTorchLinear() throws {
        for c in try load().matmul {
            let w = OwnedBuffer.tensor(name: "w", shape: [c.rows, c.cols], values: c.w, dtype: try dtype(c.dtype))
            forEachISA { isa in
                var y = [Float](repeating: .nan, count: c.n * c.rows)
                Kernels.matmul(w, c.x, &y, n: c.n)
                let close = closeness(y, c.y)
                XCTAssertLessThan(close.nmse, 1e-11, "\(isa) \(c.dtype) [\(c.rows) x \(c.cols)] n \(c.n): \(close)")
            }
        }
    }

    func testRMSNormMatchesTransformers() throws {
        for c in try load().rmsnorm {
            let w = OwnedBuffer.tensor(name: "w", shape: [c.n], values: c.w, dtype: try dtype(c.dtype))
            forEachISA { isa in
                var y = [Float](repeating: .nan, count: c.x.count)
                Kernels.rmsnorm(x: c.x, weight: w, out: &y, n: c.n, rows: c.rows, eps: c.eps, weightOffset: c.weight_offset)
                XCTAssertLessThan(maxRelativeError(y, c.y, floor: 1e-30), 2e-6, "\(isa) \(c.style) \(c.dtype) n \(c.n)")
            }
        }
    }

    func testSiluMulMatchesTorch() throws {
        let c = try load().silu_mul
        forEachISA { isa in
            var g = c.gate
            Kernels.siluMul(gate: &g, up: c.up, n: g.count)
            // 1e-6 relative; torch's own f32 result underflows to -0 at -100, as ours does.
            XCTAssertLessThan(maxRelativeError(g, c.y, floor: 1e-31), 1e-6, "\(isa)")
        }
    }

    func testAttentionMatchesSDPA() throws {
        for c in try load().attention {
            let keys = c.p0 + c.nq
            let l = AttentionLayout.kvCache(nHeads: c.n_heads, kvHeads: c.kv_heads, headDim: c.head_dim,
                                            maxSeq: keys, scale: c.scale)
            var layout = l
            layout.causal = c.causal
            forEachISA { isa in
                var out = [Float](repeating: .nan, count: c.out.count)
                Kernels.attention(q: c.q, k: c.k, v: c.v, out: &out, nq: c.nq, p0: c.p0, nkv: keys, layout: layout)
                let close = closeness(out, c.out)
                let what = "\(isa) heads \(c.n_heads)/\(c.kv_heads) nq \(c.nq) p0 \(c.p0) causal \(c.causal): \(close)"
                XCTAssertLessThan(close.nmse, 1e-12, what)
                XCTAssertLessThan(close.maxAbsDiff, 5e-6, what)
            }
        }
    }

    func testLayerNormMatchesTorch() throws {
        for c in try load().layernorm {
            let dt = try dtype(c.dtype)
            let w = OwnedBuffer.tensor(name: "w", shape: [c.n], values: c.w, dtype: dt)
            let b = c.b.map { OwnedBuffer.tensor(name: "b", shape: [c.n], values: $0, dtype: dt) }
            forEachISA { isa in
                var y = [Float](repeating: .nan, count: c.x.count)
                Kernels.layerNorm(x: c.x, weight: w, bias: b, out: &y, n: c.n, rows: c.rows, eps: c.eps)
                let close = closeness(y, c.y)
                XCTAssertLessThan(close.maxAbsDiff, 2e-6 * (c.y.map(abs).max() ?? 1), "\(isa) \(c.dtype) n \(c.n): \(close)")
            }
        }
    }

    func testActivationsMatchTransformersACT2FN() throws {
        let a = try load().activations
        let cases: [(Activation, [Float])] = [(.geluErf, a.gelu), (.geluTanh, a.gelu_pytorch_tanh),
                                              (.quickGelu, a.quick_gelu), (.silu, a.silu)]
        for (kind, expected) in cases {
            forEachISA { isa in
                var y = a.x
                Kernels.activation(kind, &y, n: y.count)
                // 1e-6 relative; absolute 1e-6 where torch's own 0.5 x (1 + tanh) loses digits in the
                // negative tail (1 + tanh(u) cancels), and where values underflow.
                for i in 0..<y.count where !(abs(y[i] - expected[i]) <= 1e-6 * abs(expected[i]) + 1e-6) {
                    XCTFail("\(isa) \(kind) x = \(a.x[i]): \(y[i]) vs torch \(expected[i])")
                    break
                }
            }
        }
    }
}
