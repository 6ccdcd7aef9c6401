import ArgumentParser
import Foundation
import ImageProcessing
import Inference
import Models
import TensorCore

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prefill and decode speed, and decode as a fraction of the memory-bandwidth bound.",
        discussion: "Decoding reads every weight once per token, so its ceiling is the machine's read bandwidth "
            + "divided by the bytes of weights per token. Both are measured in the same run, and so is the peak "
            + "resident memory of the single-stream run, reported against the weights read per token plus the KV cache.")

    @Option(help: "Model directory, a .gguf file (Qwen2/Llama; Qwen2-VL, SmolVLM or MiniCPM-V with its mmproj), a Hugging Face repo id in the local cache, or an Ollama model name.")
    var model: String
    @Option(help: "GGUF models: llama.cpp's mmproj file, the vision part for --image (default: a .gguf file named *mmproj* beside the model).")
    var mmproj: String?
    @Option(name: .customLong("prompt-tokens"), help: "Prompt length to prefill.")
    var promptTokens = 512
    @Option(name: .customLong("gen-tokens"), help: "Tokens to decode.")
    var genTokens = 128
    @Option(help: "Also decode this many sequences in lockstep (as --n / compare do) and report the aggregate rate.")
    var batch = 4
    @Option(help: "Repetitions; the best is reported.")
    var repetitions = 1
    @Option(help: "Also encode this image with the vision tower and report its time (vision models).")
    var image: String?
    @Option(help: "Quantize the language model's weights at load: q8_0, q4_0 or q4_k (default: as stored).")
    var quant: String?
    @Flag(name: .customLong("no-warmup"), help: "Skip the warm-up pass (a short prefill and one decoded token before timing, as llama-bench's warm-up run) that faults the weights in.")
    var noWarmup = false
    @Flag(help: "Measure the chat's key-to-frame latency while a reply is generated (headless, real engine).")
    var ui = false
    @Flag(help: "Print one JSON object.")
    var json = false

    private var mmprojURL: URL? { mmproj.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath) } }

    func validate() throws {
        guard promptTokens >= 1, genTokens >= 1, repetitions >= 1, (1...64).contains(batch) else {
            throw ValidationError("--prompt-tokens, --gen-tokens and --repetitions must be at least 1, --batch 1 to 64")
        }
    }

    func run() async throws {
        do { try await execute() } catch { fail(error) }
    }

    private func executeUI() async throws {
        let engine = try InferenceEngine(directory: try ModelLocator.resolve(model),
                                         options: EngineOptions(quantization: try quant.map(Quantization.parse), mmproj: mmprojURL))
        let name = URL(fileURLWithPath: model).lastPathComponent, replyTokens = max(genTokens, 64)
        // The loop blocks in poll as the real chat's does: on a thread of its own, not the cooperative pool.
        let r = await UIThread.run { UIBench.run(engine: engine, name: name, replyTokens: replyTokens, keys: 200) }
        if json {
            let object: [String: Any] = ["keys": r.samples.count, "key_to_frame_median_ms": r.median,
                                         "key_to_frame_p90_ms": r.p90, "key_to_frame_max_ms": r.max,
                                         "tokens_generated_meanwhile": r.tokensDuring, "seconds": r.seconds]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
            return
        }
        print(String(format: "ui         %d keys in %.1f s while %d tokens streamed (%.1f tokens/s): key-to-frame median %.2f ms, p90 %.2f ms, max %.2f ms (120x40)",
                     r.samples.count, r.seconds, r.tokensDuring, Double(r.tokensDuring) / max(r.seconds, 1e-9),
                     r.median, r.p90, r.max))
    }

    private func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    private func execute() async throws {
        if ui { return try await executeUI() }
        // Read bandwidth is measured before and after the model runs and the better figure kept: one
        // measurement on a busy machine can come out low and make the bound look beatable.
        let bandwidthBefore = Bandwidth.measureReadGBps()
        // The bandwidth probe's buffer is not the model's memory: the peak is counted from here on.
        let peakCounted = ProcessMemory.resetPeak()
        let t0 = now()
        let loaded = try LoadedModel(directory: try ModelLocator.resolve(model),
                                     options: LoadOptions(quantization: try quant.map(Quantization.parse),
                                                          mmproj: mmprojURL))
        let loadMs = Double(now() - t0) / 1e6
        let lm = loaded.language
        let capacity = promptTokens + genTokens + 1
        let cache = lm.makeCache(capacity: capacity)
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: lm.logitCount)
        defer { logits.deallocate() }
        // A fixed, valid token sequence; the content does not change the work done.
        let vocab = min(lm.config.vocabularySize, loaded.tokenizer.vocabularySize)
        let prompt = (0..<promptTokens).map { ($0 * 7919 + 13) % max(vocab, 1) }

        if !noWarmup {
            // Faults the mapped weights in and wakes the cores, so the first timed prefill is not also a
            // file read (llama-bench warms up the same way before its timed runs).
            try lm.forward(tokens: Array(prompt.prefix(64)), cache: cache, logits: logits)
            try lm.forward(tokens: [1], cache: cache, logits: logits)
        }
        var bestPrefill = Double.infinity, bestDecode = Double.infinity
        for _ in 0..<repetitions {
            cache.reset()
            let a = now()
            try lm.forward(tokens: prompt, cache: cache, logits: logits)
            bestPrefill = min(bestPrefill, Double(now() - a) / 1e6)
            var token = 1
            let b = now()
            for i in 0..<genTokens {
                try lm.forward(tokens: [token], cache: cache, logits: logits)
                token = (i * 31 + 7) % max(vocab, 1)
            }
            bestDecode = min(bestDecode, Double(now() - b) / 1e6)
        }
        // Peak resident memory of the single-stream run (before the batch below adds its caches): the
        // mmap'd weights it touched, any weights converted at load, the KV cache, the process itself.
        let peakRSS = peakCounted ? ProcessMemory.peakResidentBytes() : nil
        let kvBytes = cache.byteCount
        // Batched decode: `batch` sequences share each step's weight reads.
        var batchTPS = 0.0
        if batch > 1 {
            let caches = (0..<batch).map { _ in lm.makeCache(capacity: promptTokens + genTokens + 1) }
            let out = UnsafeMutablePointer<Float>.allocate(capacity: batch * lm.logitCount)
            defer { out.deallocate() }
            try lm.forward(tokens: prompt, cache: caches[0], logits: logits)
            for c in caches.dropFirst() { c.copyPrefix(from: caches[0], count: promptTokens) }
            var best = Double.infinity
            for _ in 0..<repetitions {
                for c in caches { c.truncate(to: promptTokens) }
                let a = now()
                for i in 0..<genTokens {
                    try lm.forwardBatch(tokens: (0..<batch).map { ($0 * 17 + i * 31 + 7) % max(vocab, 1) }, caches: caches, logits: out)
                }
                best = min(best, Double(now() - a) / 1e6)
            }
            batchTPS = Double(batch * genTokens) / best * 1000
        }
        // Vision: preprocessing and the tower + connector, timed separately (best of the repetitions).
        var imageReport: (tokens: Int, prepareMs: Double, encodeMs: Double)?
        if let image {
            guard let vision = loaded.vision else {
                throw CLIError("--image: this model (\(loaded.modelType)) has no vision encoder")
            }
            let decoded = try ImageDecoder.decode(path: image, limits: ImageLimits())
            var bestPrepare = Double.infinity, bestEncode = Double.infinity, tokens = 0
            for _ in 0..<repetitions {
                let a = now()
                let prepared = try vision.prepare(rgb: decoded.pixels, width: decoded.width, height: decoded.height,
                                                  settings: ImageSettings())
                let b = now()
                _ = try vision.encode(prepared)
                bestPrepare = min(bestPrepare, Double(b - a) / 1e6)
                bestEncode = min(bestEncode, Double(now() - b) / 1e6)
                tokens = prepared.tokenCount
            }
            imageReport = (tokens, bestPrepare, bestEncode)
        }
        let bandwidth = max(bandwidthBefore, Bandwidth.measureReadGBps())
        let bytes = Double(lm.bytesPerToken)
        let prefillTPS = Double(promptTokens) / bestPrefill * 1000
        let decodeTPS = Double(genTokens) / bestDecode * 1000
        let boundTPS = bandwidth * 1e9 / bytes
        let fraction = decodeTPS / boundTPS

        if json {
            var object: [String: Any] = [
                "model": model, "model_type": loaded.modelType, "threads": ThreadPool.shared.threadCount,
                "load_ms": loadMs, "prompt_tokens": promptTokens, "gen_tokens": genTokens,
                "prefill_ms": bestPrefill, "decode_ms": bestDecode,
                "prefill_tokens_per_s": prefillTPS, "decode_tokens_per_s": decodeTPS,
                "weight_bytes_per_token": Int(bytes), "read_bandwidth_gbps": bandwidth,
                "decode_bound_tokens_per_s": boundTPS, "decode_fraction_of_bound": fraction,
                "kv_cache_bytes": kvBytes,
            ]
            if let peakRSS {
                object["peak_rss_bytes"] = peakRSS
                object["peak_rss_over_weights_and_kv"] = Double(peakRSS) / (bytes + Double(kvBytes))
            }
            if batch > 1 {
                object["batch"] = batch
                object["batch_decode_tokens_per_s"] = batchTPS
                object["batch_speedup"] = batchTPS / decodeTPS
            }
            if let r = imageReport {
                object["image_tokens"] = r.tokens
                object["image_prepare_ms"] = r.prepareMs
                object["image_encode_ms"] = r.encodeMs
                object["vision_tokens_per_s"] = Double(r.tokens) / r.encodeMs * 1000
            }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
            return
        }
        func f(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
        print("model      \(loaded.familyName) (\(loaded.modelType)), \(f(bytes / 1e6)) MB of weights read per token, \(ThreadPool.shared.threadCount) threads, loaded in \(f(loadMs)) ms")
        print("prefill    \(promptTokens) tokens in \(f(bestPrefill)) ms: \(f(prefillTPS)) tokens/s")
        print("decode     \(genTokens) tokens in \(f(bestDecode)) ms: \(f(decodeTPS)) tokens/s")
        if let peakRSS {
            print("memory     peak RSS \(f(Double(peakRSS) / 1e6)) MB = \(f(Double(peakRSS) / (bytes + Double(kvBytes)), 2))x weights + KV cache (\(f(Double(kvBytes) / 1e6)) MB for \(capacity) tokens)")
        }
        if batch > 1 {
            print("batch      \(batch) sequences in lockstep: \(f(batchTPS)) tokens/s in all, \(f(batchTPS / decodeTPS, 2))x one sequence")
        }
        if let r = imageReport {
            print("image      \(r.tokens) vision tokens: preprocess \(f(r.prepareMs)) ms, encode \(f(r.encodeMs)) ms (\(f(Double(r.tokens) / r.encodeMs * 1000)) vision tokens/s)")
        }
        print("bandwidth  \(f(bandwidth, 2)) GB/s measured read; bound \(f(boundTPS)) tokens/s; decode at \(f(fraction * 100)) % of the bound")
    }
}

/// The process's peak resident set (VmHWM in /proc/self/status), nil where that file is missing.
enum ProcessMemory {
    /// Restarts the peak count at the current resident set (Linux: "5" to /proc/self/clear_refs).
    static func resetPeak() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }

    static func peakResidentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kb = Int(fields[1]) { return kb * 1024 }
        }
        return nil
    }
}
