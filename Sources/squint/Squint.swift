import ArgumentParser
import Foundation

@main
struct Squint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "squint",
        abstract: "Chat with vision-language models about local images, entirely on the CPU.",
        discussion: "Models are Hugging Face model directories (config.json, *.safetensors, tokenizer.json) or "
            + "repo ids in the local Hugging Face cache. See `man squint` for the full reference.",
        version: SquintVersion.string,
        subcommands: [Chat.self, Generate.self, Bench.self, ListModels.self, Quantize.self],
        defaultSubcommand: Chat.self)
}

enum SquintVersion {
    static let string = "0.1.0"
}

/// Prints a one-line error naming the problem and exits non-zero (no stack traces for bad input).
func fail(_ error: Error) -> Never {
    let text = String(describing: error)
    FileHandle.standardError.write(Data("squint: error: \(text)\n".utf8))
    exit(1)
}
