import ArgumentParser
import Foundation
import Models

struct ListModels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the models found in the local Hugging Face cache and the Ollama store.",
        discussion: "Searched: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub; and $OLLAMA_MODELS, "
            + "else ~/.ollama/models. Any listed id works with --model.")

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let models = ModelLocator.cachedModels()
        let ollama = OllamaStore.list()
        if json {
            let list = models.map { ["id": $0.repoID, "path": $0.directory.path, "source": "huggingface"] }
                + ollama.map { ["id": $0.name, "path": $0.model.path, "source": "ollama"] }
            let data = try JSONSerialization.data(withJSONObject: list, options: [.sortedKeys, .withoutEscapingSlashes])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
            return
        }
        if models.isEmpty && ollama.isEmpty {
            print("No models in \(ModelLocator.hubCaches().map(\.path).joined(separator: ", ")) or \(OllamaStore.root().path).")
            print("Pass a model directory with --model DIR, or download one with `huggingface-cli download ORG/NAME`.")
            return
        }
        for m in models {
            let type = (try? JSONConfig.load(m.directory.appendingPathComponent("config.json")).optionalString("model_type")) ?? nil
            let supported = type.map { ModelRegistry.family(for: $0) != nil } ?? false
            print("\(m.repoID)  \(type ?? "?")\(supported ? "" : " (not supported)")  \(m.directory.path)")
        }
        for m in ollama { print("\(m.name)  ollama (GGUF)  \(m.model.path)") }
    }
}
