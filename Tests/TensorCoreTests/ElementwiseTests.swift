import TensorCore
import TestSupport
import XCTest

/// rmsnorm, silu*mul, add and row conversion against their naive twins, on every dispatch level.
final class ElementwiseTests: XCTestCase {
    func testRMSNormAllWeightTypes() {
        var rng = SeededRandom(seed: 7)
        for n in [1, 7, 64, 65, 896, 1000] {
            let rows = 3
            let x = rng.normals(rows * n, scale: 3)
            let wValues = rng.normals(n)
            var weights: [(TensorView?, Float)] = [(nil, 0)]
            for dtype in DType.floatTypes {
                weights.append((OwnedBuffer.tensor(name: "w", shape: [n], values: wValues, dtype: dtype), 0))
            }
            weights.append((OwnedBuffer.tensor(name: "w", shape: [n], values: wValues, dtype: .bf16), 1))
            for (weight, offset) in weights {
                let expected = Reference.rmsnorm(x, weight: weight, n: n, eps: 1e-6, weightOffset: offset)
                forEachISA { isa in
                    var y = [Float](repeating: .nan, count: x.count)
                    x.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer { yp in
                            Kernels.rmsnorm(x: xp.baseAddress!, weight: weight, out: yp.baseAddress!, n: n,
                                            rows: rows, eps: 1e-6, weightOffset: offset)
                        }
                    }
                    // f32 mean of squares and three roundings: within 2e-6 relative per element.
                    let e = maxRelativeError(y, expected, floor: 1e-30)
                    XCTAssertLessThan(e, 2e-6, "\(isa) n \(n) weight \(weight?.dtype.description ?? "none") +\(offset)")
                }
            }
        }
    }

    func testRMSNormInPlaceManyRows() {
        var rng = SeededRandom(seed: 8)
        let n = 896, rows = 64  // enough work to run on the pool
        let x = rng.normals(rows * n)
        let w = OwnedBuffer.tensor(name: "w", shape: [n], values: rng.normals(n), dtype: .bf16)
        let expected = Reference.rmsnorm(x, weight: w, n: n, eps: 1e-5)
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            Kernels.rmsnorm(x: p.baseAddress!, weight: w, out: p.baseAddress!, n: n, rows: rows, eps: 1e-5)
        }
        XCTAssertLessThan(maxRelativeError(y, expected, floor: 1e-30), 2e-6)
    }

    func testSiluMulMatchesWithinOneMillionth() {
        var rng = SeededRandom(seed: 9)
        // Random values over the range activations take, plus the exp overflow/underflow edges.
        let edges: [Float] = [-1000, -100, -88.5, -87, -50, -20, -1e-3, -0.0, 0, 1e-7, 1e-3, 0.5, 20, 50, 87, 88.5,
                              100, 1000]
        for n in [1, 7, 64, 65, 1000, 40_000] {
            var gate = rng.normals(n, scale: 6)
            for (i, e) in edges.enumerated() where i < n { gate[i * 7 % n] = e }
            let up = rng.normals(n)
            let expected = Reference.siluMul(gate: gate, up: up)
            forEachISA { isa in
                var g = gate
                g.withUnsafeMutableBufferPointer { gp in
                    up.withUnsafeBufferPointer { Kernels.siluMul(gate: gp.baseAddress!, up: $0.baseAddress!, n: n) }
                }
                // Relative 1e-6; the floor absorbs results below f32's normal range (silu(-100) ~ -4e-42,
                // which f32 torch also flushes to -0 because e^100 overflows).
                XCTAssertLessThan(maxRelativeError(g, expected, floor: 1e-37 / 1e-6), 1e-6, "\(isa) n \(n)")
            }
        }
    }

    func testAdd() {
        var rng = SeededRandom(seed: 10)
        for n in [1, 7, 65, 1000, 300_000] {
            let a = rng.normals(n), b = rng.normals(n)
            let expected = Reference.add(a, b)
            forEachISA { isa in
                var y = a  // in place: y = y + b
                y.withUnsafeMutableBufferPointer { yp in
                    b.withUnsafeBufferPointer { bp in
                        Kernels.add(yp.baseAddress!, bp.baseAddress!, into: yp.baseAddress!, n: n)
                    }
                }
                XCTAssertEqual(y, expected, "\(isa) n \(n)")  // one f32 addition each: exact
            }
        }
    }

    func testConvertRowIsExact() {
        // f16 specials: zeros, subnormals, the largest finite, infinities and NaN; bf16 the same shapes.
        let f16Bits: [UInt16] = [0x0000, 0x8000, 0x0001, 0x03FF, 0x8001, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF,
                                 0x7C00, 0xFC00, 0x7E00, 0x3555, 0x1234, 0xC321]
        let bf16Bits: [UInt16] = [0x0000, 0x8000, 0x0001, 0x007F, 0x0080, 0x3F80, 0xBF80, 0x7F7F, 0x7F80, 0xFF80,
                                  0x7FC0, 0x4049, 0x1234, 0xC321]
        for (dtype, pattern, widen) in [(DType.f16, f16Bits, Half.f16ToFloat), (.bf16, bf16Bits, Half.bf16ToFloat)] {
            let cols = 37  // two vectors of 16 plus a tail
            let rows = 2
            let bits = (0..<(rows * cols)).map { pattern[$0 % pattern.count] }
            let buffer = OwnedBuffer(byteCount: bits.count * 2)
            buffer.raw.bindMemory(to: UInt16.self, capacity: bits.count).update(from: bits, count: bits.count)
            let view = TensorView(name: "e", dtype: dtype, shape: [rows, cols], data: UnsafeRawPointer(buffer.raw),
                                  owner: buffer)
            forEachISA { isa in
                var out = [Float](repeating: 0, count: cols)
                out.withUnsafeMutableBufferPointer { Kernels.convertRow(view, row: 1, into: $0.baseAddress!) }
                for c in 0..<cols {
                    let want = widen(bits[cols + c])
                    let same = want.isNaN ? out[c].isNaN : out[c].bitPattern == want.bitPattern
                    XCTAssertTrue(same, "\(isa) \(dtype) bits \(String(bits[cols + c], radix: 16)): \(out[c]) vs \(want)")
                }
            }
        }
    }

    func testBandwidthIsMeasured() {
        // Only that a positive finite figure comes back: no wall-clock assertions in tests.
        let gbps = Bandwidth.measureReadGBps(megabytes: 8, repeats: 1)
        XCTAssertTrue(gbps.isFinite && gbps > 0, "\(gbps)")
    }
}

/// LayerNorm and the activations of vision towers against their naive twins.
final class VisionOpsKernelTests: XCTestCase {
    func testLayerNormWeightBiasCombinations() {
        var rng = SeededRandom(seed: 21)
        for n in [1, 7, 64, 65, 1000, 1280] {
            let rows = 3
            // An offset mean: the two-pass variance must not lose precision to it.
            let x = rng.normals(rows * n, scale: 2).map { $0 + 5 }
            let wv = rng.normals(n), bv = rng.normals(n)
            var cases: [(TensorView?, TensorView?)] = [(nil, nil)]
            for dtype in DType.floatTypes {
                cases.append((OwnedBuffer.tensor(name: "w", shape: [n], values: wv, dtype: dtype),
                              OwnedBuffer.tensor(name: "b", shape: [n], values: bv, dtype: dtype)))
            }
            cases.append((OwnedBuffer.tensor(name: "w", shape: [n], values: wv, dtype: .bf16),
                          OwnedBuffer.tensor(name: "b", shape: [n], values: bv, dtype: .f32)))  // mixed dtypes
            cases.append((OwnedBuffer.tensor(name: "w", shape: [n], values: wv, dtype: .f16), nil))
            for (w, b) in cases {
                let expected = Reference.layerNorm(x, weight: w, bias: b, n: n, eps: 1e-6)
                let scale = expected.map(abs).max() ?? 1
                forEachISA { isa in
                    var y = [Float](repeating: .nan, count: x.count)
                    Kernels.layerNorm(x: x, weight: w, bias: b, out: &y, n: n, rows: rows, eps: 1e-6)
                    // Absolute bound relative to the row's largest output: a bias can cancel a normalised
                    // value to near zero, where a relative bound means nothing.
                    let c = closeness(y, expected)
                    XCTAssertLessThan(c.maxAbsDiff, 2e-6 * max(scale, 1),
                                      "\(isa) n \(n) w \(w?.dtype.description ?? "-") b \(b?.dtype.description ?? "-"): \(c)")
                }
            }
        }
    }

    func testActivations() {
        var rng = SeededRandom(seed: 22)
        let edges: [Float] = [-100, -20, -9, -5, -1e-3, 0, 1e-3, 5, 9, 20, 100]
        for kind in Activation.allCases {
            for n in [1, 7, 65, 1000, 50_000] {
                var x = rng.normals(n, scale: 4)
                for (i, e) in edges.enumerated() where i < n { x[i * 5 % n] = e }
                let expected = Reference.activation(kind, x)
                forEachISA { isa in
                    var y = x
                    Kernels.activation(kind, &y, n: n)
                    // 1e-6 relative, with an absolute floor of 1e-7 where the negative tails go to zero.
                    for i in 0..<n where !(abs(y[i] - expected[i]) <= 1e-6 * abs(expected[i]) + 1e-7) {
                        XCTFail("\(isa) \(kind) x = \(x[i]): \(y[i]) vs \(expected[i])")
                        break
                    }
                }
            }
        }
    }
}
