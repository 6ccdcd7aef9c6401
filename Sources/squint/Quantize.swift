import ArgumentParser
import Foundation
import Models

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a Hugging Face safetensors model (Qwen2, Llama, Qwen2-VL) to a GGUF file (and mmproj) llama.cpp loads.",
        discussion: "Tensor names, metadata and tokenizer are those llama.cpp's convert_hf_to_gguf.py writes; norms, biases "
            + "and other 1-D tensors stay F32. q4_0/q4_k keep the output projection (a tied embedding included) at q8_0, and q4_k matrices whose rows "
            + "are not whole 256-element blocks use q8_0.")

    @Option(help: "Model directory (config.json, *.safetensors, tokenizer.json) or a Hugging Face repo id in the local cache.")
    var model: String
    @Option(help: "The .gguf file to write (replaced if it exists).")
    var out: String
    @Option(help: "Type of the matrices: f32, f16, bf16, q8_0, q4_0 or q4_k.")
    var type = "f16"
    @Option(name: .customLong("mmproj-out"), help: "Qwen2-VL / Qwen2.5-VL: also write the vision part as llama.cpp's mmproj file (F16, or F32 with --type f32).")
    var mmprojOut: String?

    func run() throws {
        do {
            guard GGUFConverter.typeNames.contains(type.lowercased()) else {
                throw CLIError("--type \(type) is not supported (supported: \(GGUFConverter.typeNames.joined(separator: ", ")))")
            }
            let dtype = try GGUFConverter.parseType(type)
            let directory = try ModelLocator.resolve(model)
            // The mmproj first: a model without a vision part fails before the text file is written.
            var written: [(String, [String: Int])] = []
            if let mmprojOut {
                let path = (mmprojOut as NSString).expandingTildeInPath
                written.append((mmprojOut, try GGUFMmprojConverter.write(directory: directory, type: dtype, to: path)))
            }
            let counts = try GGUFConverter.write(directory: directory, type: dtype,
                                                 to: (out as NSString).expandingTildeInPath)
            written.insert((out, counts), at: 0)
            for (file, counts) in written {
                let summary = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                print("wrote \(file): \(summary)")
            }
        } catch {
            fail(error)
        }
    }
}
