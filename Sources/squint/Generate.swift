import ArgumentParser
import Foundation
import Inference
import Models
import Sampling

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a reply to one prompt (the scriptable entry point).",
        discussion: "The prompt is one user message (the images in order, then the text) rendered through the "
            + "model's own chat template with the generation prompt added. --messages takes a whole conversation "
            + "instead; --raw feeds the text with no template.")

    @Option(help: "Model directory (config.json, *.safetensors, tokenizer.json), a .gguf file (Qwen2/Llama; Qwen2-VL, SmolVLM or MiniCPM-V with its mmproj), a Hugging Face repo id in the local cache, or an Ollama model name.")
    var model: String
    @Option(name: .customLong("image"), help: "An image to attach (repeatable); fills the image parts in order.")
    var images: [String] = []
    @Option(help: "A system message.")
    var system: String?
    @Option(help: "The user's message.")
    var prompt: String?
    @Option(help: "A conversation in transformers' format: a JSON list of {\"role\", \"content\"}.")
    var messages: String?
    @Flag(help: "Feed --prompt as is, without the chat template.")
    var raw = false
    @Option(name: .customLong("max-tokens"), help: "Most tokens to generate.")
    var maxTokens = 256
    @Flag(name: .customLong("ignore-eos"), help: "Keep generating past end-of-sequence tokens.")
    var ignoreEOS = false
    @Option(name: .customLong("n"), help: "Number of candidate replies sampled from one prefill (printed whole, separated by ---).")
    var candidates = 1
    @Option(help: "Context length in tokens (default: the model's, at most 4096).")
    var context: Int?
    @Flag(help: "Print one JSON object with tokens, text, temperatures and timings.")
    var json = false
    @Option(name: .customLong("dump-logits"), help: "Write each step's raw logits of the first candidate to this .npy file.")
    var dumpLogits: String?
    @Option(name: .customLong("min-pixels"), help: "Smallest image area after resizing (default: the checkpoint's processor config).")
    var minPixels: Int?
    @Option(name: .customLong("max-pixels"), help: "Largest image area after resizing (default: the checkpoint's processor config).")
    var maxPixels: Int?
    @Option(name: .customLong("max-tiles"), help: "LLaVA-OneVision: consider only AnyRes grids of at most this many tiles (default: every grid of the checkpoint).")
    var maxTiles: Int?
    @Option(name: .customLong("longest-edge"), help: "SmolVLM / Idefics3: longest image edge before tiling (default: the checkpoint's processor config).")
    var longestEdge: Int?
    @Flag(name: .customLong("no-split"), help: "SmolVLM / Idefics3: encode only the global image, without tiles.")
    var noSplit = false
    @Option(help: "Quantize the language model's weights at load: q8_0, q4_0 or q4_k (default: as stored).")
    var quant: String?
    @Option(help: "GGUF models: llama.cpp's mmproj file, the vision part (default: a .gguf file named *mmproj* beside the model).")
    var mmproj: String?
    @OptionGroup var sampling: SamplingOptions

    var mmprojURL: URL? { mmproj.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath) } }

    func validate() throws {
        if raw && messages != nil { throw ValidationError("--raw and --messages cannot be combined") }
        if messages == nil && prompt == nil { throw ValidationError("give --prompt TEXT or --messages FILE.json") }
        if messages != nil && (prompt != nil || system != nil) {
            throw ValidationError("--messages replaces --prompt and --system")
        }
        if raw && !images.isEmpty { throw ValidationError("--raw cannot carry images") }
        if maxTokens < 0 { throw ValidationError("--max-tokens must not be negative") }
        if !(1...64).contains(candidates) { throw ValidationError("--n must be between 1 and 64") }
        if let maxTiles, maxTiles < 1 { throw ValidationError("--max-tiles must be at least 1") }
        if let longestEdge, longestEdge < 1 { throw ValidationError("--longest-edge must be positive") }
    }

    func run() async throws {
        do {
            try await execute()
        } catch {
            fail(error)
        }
    }

    private func execute() async throws {
        for path in images where !FileManager.default.isReadableFile(atPath: path) {
            throw CLIError("cannot read image \(path): no such file or not readable")
        }
        let engine = try InferenceEngine(directory: try ModelLocator.resolve(model),
                                         options: EngineOptions(contextLength: context, quantization: try quant.map(Quantization.parse),
                                                                       mmproj: mmprojURL))
        var request = GenerationRequest(prompt: try promptInput(multimodal: engine.model.isMultimodal))
        request.maxTokens = maxTokens
        request.sampling = try sampling.settings()
        request.ignoreEOS = ignoreEOS
        request.candidates = candidates
        request.captureLogits = dumpLogits != nil
        request.images = images
        request.imageSettings = ImageSettings(minPixels: minPixels, maxPixels: maxPixels, maxTiles: maxTiles,
                                              longestEdge: longestEdge, splitImages: noSplit ? false : nil)

        var promptTokens: [Int] = []
        var imageTokens: [Int] = []
        var result: (candidates: [Candidate], timings: Timings, logits: [[Float]])?
        let out = FileHandle.standardOutput
        // One reply streams as it is generated. Several are decoded in lockstep, so their tokens arrive
        // interleaved: each is kept apart and printed whole, in order, separated by "---".
        var pending = [String](repeating: "", count: max(1, candidates))
        for try await event in await engine.generate(request) {
            switch event {
            case let .prompt(tokens, _, counts):
                promptTokens = tokens
                imageTokens = counts
            case let .token(candidate, _, text, _):
                guard !json, !text.isEmpty else { break }
                if candidates > 1 {
                    if pending.indices.contains(candidate) { pending[candidate] += text }
                } else {
                    out.write(Data(text.utf8))
                }
            case .candidateFinished:
                if !json && candidates <= 1 { out.write(Data("\n".utf8)) }
            case let .done(cands, timings, logits):
                result = (cands, timings, logits)
            }
        }
        if !json && candidates > 1 {
            out.write(Data(pending.map { $0 + "\n" }.joined(separator: "---\n").utf8))
        }
        guard var result else { throw CLIError("generation ended without a result") }
        result.timings.loadMs = engine.loadMilliseconds
        if let dumpLogits {
            try NPYWriter.write(result.logits, columns: engine.model.language.logitCount, to: URL(fileURLWithPath: dumpLogits))
        }
        if json {
            let object = GenerateReport(promptTokens: promptTokens, candidates: result.candidates,
                                        timings: result.timings, seed: request.sampling.seed,
                                        imageTokens: imageTokens).jsonObject()
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            out.write(data)
            out.write(Data("\n".utf8))
        }
    }

    /// The prompt as one user message (images first, then text), a whole conversation, or raw text.
    private func promptInput(multimodal: Bool) throws -> PromptInput {
        if raw { return .raw(prompt ?? "") }
        if let messages {
            return .chat(try MessagesFile.load(messages))
        }
        var list: [ChatMessage] = []
        // Vision models' processors take content as a list of parts; text-only templates print a string.
        if let system {
            list.append(multimodal ? ChatMessage(role: "system", parts: [.text(system)]) : ChatMessage(role: "system", text: system))
        }
        let text = prompt ?? ""
        if multimodal || !images.isEmpty {
            list.append(ChatMessage(role: "user", parts: images.map { _ in ContentPart.image } + [.text(text)]))
        } else {
            list.append(ChatMessage(role: "user", text: text))
        }
        return .chat(list)
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// `--messages FILE.json`: `[{"role": ..., "content": "text" | [{"type": "text", "text": ...}, {"type": "image"}]}]`.
enum MessagesFile {
    static func load(_ path: String) throws -> [ChatMessage] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CLIError("cannot read messages file \(path): \(error.localizedDescription)")
        }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
            let utf8 = String(data: data, encoding: .utf8) != nil
            throw CLIError("\(path): not valid JSON\(utf8 ? "" : " (the file is not UTF-8)")")
        }
        guard let list = parsed as? [Any] else {
            throw CLIError("\(path): expected a JSON list of messages")
        }
        return try list.enumerated().map { i, item in
            guard let m = item as? [String: Any], let role = m["role"] as? String else {
                throw CLIError("\(path): message \(i) needs a \"role\" string")
            }
            if let text = m["content"] as? String { return ChatMessage(role: role, text: text) }
            guard let parts = m["content"] as? [Any] else {
                throw CLIError("\(path): message \(i) needs \"content\" as a string or a list of parts")
            }
            return ChatMessage(role: role, parts: try parts.map { p in
                guard let part = p as? [String: Any], let type = part["type"] as? String else {
                    throw CLIError("\(path): message \(i) has a content part without a \"type\"")
                }
                switch type {
                case "text":
                    guard let t = part["text"] as? String else { throw CLIError("\(path): message \(i): text part without \"text\"") }
                    return .text(t)
                case "image", "image_url":
                    return .image
                default:
                    throw CLIError("\(path): message \(i): unsupported content type \"\(type)\"")
                }
            })
        }
    }
}

/// The `--json` object: a contract other tools read; add fields, never rename.
struct GenerateReport {
    var promptTokens: [Int]
    var candidates: [Candidate]
    var timings: Timings
    var seed: UInt64
    var imageTokens: [Int]

    func jsonObject() -> [String: Any] {
        func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
        return [
            "prompt_tokens": promptTokens,
            "seed": seed,
            "image_tokens": imageTokens,
            "candidates": candidates.map { c in
                [
                    "tokens": c.tokens,
                    "text": c.text,
                    "finish_reason": c.finishReason.rawValue,
                    "temperatures": c.temperatures.map { Double($0) },
                ] as [String: Any]
            },
            "timings": [
                "load_ms": round3(timings.loadMs),
                "image_encode_ms": round3(timings.imageEncodeMs),
                "prefill_ms": round3(timings.prefillMs),
                "decode_ms": round3(timings.decodeMs),
                "prefill_tokens": timings.prefillTokens,
                "decode_tokens": timings.decodeTokens,
                "reused_tokens": timings.reusedTokens,
                "images_encoded": timings.imagesEncoded,
                "images_cached": timings.imagesCached,
                "prefill_tokens_per_s": round3(timings.prefillTokensPerSecond),
                "decode_tokens_per_s": round3(timings.decodeTokensPerSecond),
            ] as [String: Any],
        ]
    }
}

/// Writes a float32 NumPy array of shape [rows.count, columns] (format version 1.0).
enum NPYWriter {
    static func write(_ rows: [[Float]], columns: Int, to url: URL) throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows.count), \(columns)), }"
        // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let len = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(len & 0xFF), UInt8(len >> 8)])
        data.append(contentsOf: Array(header.utf8))
        for row in rows {
            precondition(row.count == columns)
            row.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        do { try data.write(to: url, options: .atomic) } catch {
            throw CLIError("cannot write \(url.path): \(error.localizedDescription)")
        }
    }
}
