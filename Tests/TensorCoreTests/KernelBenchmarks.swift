import Foundation
import TensorCore
import XCTest

/// Throughput printouts, not assertions: skipped unless SQUINT_BENCH=1. Run in release:
///   SQUINT_BENCH=1 swift test -c release --filter KernelBenchmarks
final class KernelBenchmarks: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["SQUINT_BENCH"] == "1", "set SQUINT_BENCH=1")
    }

    private func best(_ repeats: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        return best
    }

    func testMatmulThroughput() {
        var rng = SeededRandom(seed: 1)
        let pool = ThreadPool.shared
        print("threads \(pool.threadCount), ISA \(Kernels.activeISA)")
        for (rows, cols) in [(896, 4864), (4864, 896), (8192, 4096)] {
            for dtype in [DType.bf16, .f32] {
                let w = OwnedBuffer.tensor(name: "w", shape: [rows, cols], values: rng.normals(rows * cols), dtype: dtype)
                for n in [1, 64, 256] where !(rows == 8192 && n > 1) {
                    let x = rng.normals(n * cols)
                    var y = [Float](repeating: 0, count: n * rows)
                    let t = x.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer { yp in
                            best(n == 1 ? 50 : 5) { Kernels.matmul(w, xp.baseAddress!, yp.baseAddress!, n: n) }
                        }
                    }
                    let gflops = 2.0 * Double(rows * cols * n) / t / 1e9
                    let gbps = Double(w.byteCount) / t / 1e9
                    print(String(format: "matmul %@ [%d x %d] n=%3d: %8.3f ms  %6.1f GFLOP/s  %6.1f GB/s of weights",
                                 dtype.description, rows, cols, n, t * 1e3, gflops, gbps))
                }
            }
        }
        print(String(format: "read bandwidth: %.1f GB/s", Bandwidth.measureReadGBps()))
    }

    /// Quantized weights against bf16 of the same shape (decode is bandwidth bound: fewer bytes, faster).
    func testQuantMatmulThroughput() {
        var rng = SeededRandom(seed: 3)
        print("threads \(ThreadPool.shared.threadCount), ISA \(Kernels.activeISA)")
        for (rows, cols) in [(4864, 1024), (8192, 4096)] {  // K-quant rows are whole 256-blocks
            for dtype in [DType.bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q4_K, .q5_K, .q6_K] {
                let w = dtype == .bf16
                    ? OwnedBuffer.tensor(name: "w", shape: [rows, cols], values: rng.normals(rows * cols), dtype: .bf16)
                    : QuantMatmulTests.randomBlocks(dtype, rows: rows, cols: cols, rng: &rng)
                for n in [1, 64] where !(rows == 8192 && n > 1) {
                    let x = rng.normals(n * cols)
                    var y = [Float](repeating: 0, count: n * rows)
                    let t = x.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer { yp in
                            best(n == 1 ? 30 : 3) { Kernels.matmul(w, xp.baseAddress!, yp.baseAddress!, n: n) }
                        }
                    }
                    print(String(format: "matmul %@ [%d x %d] n=%3d: %8.3f ms  %6.1f GFLOP/s  %6.1f GB/s of weights",
                                 dtype.description, rows, cols, n, t * 1e3, 2.0 * Double(rows * cols * n) / t / 1e9,
                                 Double(w.byteCount) / t / 1e9))
                }
            }
        }
    }

    func testPoolOverhead() {
        let pool = ThreadPool.shared
        let calls = 20_000
        let t = best(3) { for _ in 0..<calls { pool.parallelFor(pool.threadCount) { _ in } } }
        print(String(format: "parallelFor (empty body, %d threads): %.2f us per call", pool.threadCount, t / Double(calls) * 1e6))
    }

    func testAttentionThroughput() {
        var rng = SeededRandom(seed: 2)
        let maxSeq = 1024
        let l = AttentionLayout.kvCache(nHeads: 14, kvHeads: 2, headDim: 64, maxSeq: maxSeq, scale: 0.125)
        let k = rng.normals(2 * maxSeq * 64), v = rng.normals(2 * maxSeq * 64)
        for (nq, p0) in [(1, 1000), (512, 0)] {
            let q = rng.normals(nq * 14 * 64)
            var out = [Float](repeating: 0, count: nq * 14 * 64)
            let t = best(5) { Kernels.attention(q: q, k: k, v: v, out: &out, nq: nq, p0: p0, layout: l) }
            var pairs = 0
            for i in 0..<nq { pairs += p0 + i + 1 }
            let gflops = 4.0 * Double(pairs * 14 * 64) / t / 1e9
            print(String(format: "attention 14/2 heads x 64, nq=%d p0=%d: %.3f ms  %.1f GFLOP/s", nq, p0, t * 1e3, gflops))
        }
    }

    /// Qwen2-VL-2B's vision tower: 16 heads x 80, not causal, q/k/v packed; streamed vs blocked kernel.
    func testVisionAttentionThroughput() {
        var rng = SeededRandom(seed: 3)
        let l = AttentionLayout.packed(nHeads: 16, kvHeads: 16, headDim: 80, scale: 1 / Float(80).squareRoot(),
                                       causal: false)
        for n in [1024, 3072] {
            let q = rng.normals(n * 1280), k = rng.normals(n * 1280), v = rng.normals(n * 1280)
            var out = [Float](repeating: 0, count: n * 1280)
            for kernel in [AttentionKernel.streamed, .blocked] {
                let t = best(2) {
                    Kernels.attention(q: q, k: k, v: v, out: &out, nq: n, p0: 0, nkv: n, layout: l, kernel: kernel)
                }
                let gflops = 4.0 * Double(n * n * 1280) / t / 1e9
                print("vision attention 16 heads x 80, n=\(n), \(kernel): "
                      + String(format: "%.1f ms  %.1f GFLOP/s", t * 1e3, gflops))
            }
        }
    }
}

extension KernelBenchmarks {
    func testBandwidthByThreads() {
        for threads in [1, 2] {
            let pool = ThreadPool(threadCount: threads)
            print(String(format: "read bandwidth, %d thread(s): %.1f GB/s (256 MB), %.1f GB/s (64 MB)", threads,
                         Bandwidth.measureReadGBps(pool: pool), Bandwidth.measureReadGBps(megabytes: 64, pool: pool)))
        }
    }
}

extension KernelBenchmarks {
    /// One token through packed (and, for the K-quants, row-major) matrices far larger than the caches (the decode case), in GB/s of weights,
    /// beside the read bandwidth measured in the same run: how close the kernels come to the bound.
    func testPackedDecodeBandwidth() {
        var rng = SeededRandom(seed: 9)
        let bandwidth = Bandwidth.measureReadGBps()
        print(String(format: "read bandwidth: %.1f GB/s", bandwidth))
        for (dtype, rows, cols, pack) in [(DType.q4_0, 65536, 1536, true), (.q8_0, 32768, 1536, true),
                                          (.q6_K, 65536, 1536, true), (.q6_K, 65536, 1536, false),
                                          (.q4_K, 65536, 1536, true), (.q4_K, 65536, 1536, false),
                                          (.q5_K, 65536, 1536, true), (.q5_K, 65536, 1536, false),
                                          (.q4_0, 8960, 8960, true), (.q4_0, 1536, 1536, true), (.q4_0, 896, 896, true),
                                          (.q4_0, 4864, 896, true)] {
            // Enough copies to pass 300 MB, read one after another as a decode step reads its layers.
            func make() -> TensorView {
                let w = QuantMatmulTests.randomBlocks(dtype, rows: rows, cols: cols, rng: &rng)
                return pack ? Kernels.packedCopy(w) : w
            }
            let one = make()
            let copies = max(1, (300 << 20) / one.byteCount)
            let ws = [one] + (1..<copies).map { _ in make() }
            let x = rng.normals(cols)
            var y = [Float](repeating: 0, count: rows)
            let t = x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    best(5) { for w in ws { Kernels.matmul(w, xp.baseAddress!, yp.baseAddress!, n: 1) } }
                }
            }
            let gbps = Double(one.byteCount * copies) / t / 1e9
            print(String(format: "%@ %@ [%d x %d] x %d, n=1: %6.1f GB/s of weights, %3.0f%% of the read bandwidth",
                         pack ? "packed" : "row-major", dtype.description, rows, cols, copies, gbps, 100 * gbps / bandwidth))
        }
    }
}
