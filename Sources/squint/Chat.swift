import ArgumentParser
import ChatApp
import CursesDriver
import Foundation
import Inference
import Models
import Sampling
import TerminalUI

struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with a model in the terminal (the default command).",
        discussion: """
        Keys: Enter sends, Alt-Enter or Ctrl-J starts a new line, Esc stops a reply, Ctrl-C twice quits,
        F1 or ? lists every key and /command. With a vision model, /image PATH (or a path typed or
        pasted into the message) attaches an image; M-x detaches. Sessions are saved as they go under
        $XDG_DATA_HOME/squint/sessions (default ~/.local/share/squint/sessions), images by path and hash.
        NO_COLOR=1 draws without colours (image previews become text).
        """)

    @Option(help: "Model directory (config.json, *.safetensors, tokenizer.json), a .gguf file (Qwen2/Llama; Qwen2-VL, SmolVLM or MiniCPM-V with its mmproj), a repo id in the Hugging Face cache, or an Ollama model name (default with --resume: the session's model).")
    var model: String?
    @Flag(help: "Resume a saved session: the one named by SESSION-ID, else the latest.")
    var resume = false
    @Argument(help: ArgumentHelp("Images to attach to the first message; with --resume, a first argument that is not a file names the session.",
                                 valueName: "image"))
    var arguments: [String] = []
    @Flag(name: .customLong("list-sessions"), help: "Print the saved sessions and exit.")
    var listSessions = false
    @Option(help: "A system message for a new conversation (/system changes it later).")
    var system: String?
    @Option(help: "Colour theme: dark, light, monochrome, or a path to a .theme file.")
    var theme: String?
    @Flag(name: .customLong("no-color"), help: "Draw without colours (as NO_COLOR=1).")
    var noColor = false
    @Option(name: .customLong("max-tokens"), help: "Most tokens per reply (default 512).")
    var maxTokens: Int?
    @Option(help: "Context length in tokens (default: the model's, at most 4096).")
    var context: Int?
    @Option(help: "Quantize the language model's weights at load: q8_0, q4_0 or q4_k (default: as stored).")
    var quant: String?
    @Option(help: "GGUF models: llama.cpp's mmproj file, the vision part (default: the one the resumed session or the config remembers for the model, else a .gguf file named *mmproj* beside it).")
    var mmproj: String?
    @OptionGroup var sampling: SamplingOptions

    /// With --resume, a first argument that is not an existing file is the session id.
    var sessionID: String? {
        guard resume, let first = arguments.first,
              !FileManager.default.fileExists(atPath: (first as NSString).expandingTildeInPath) else { return nil }
        return first
    }

    /// The images to attach at start (`~` expanded).
    var imagePaths: [String] {
        arguments.dropFirst(sessionID == nil ? 0 : 1).map { ($0 as NSString).expandingTildeInPath }
    }

    func validate() throws {
        if let maxTokens, maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
    }

    func run() async throws {
        do {
            try await execute()
        } catch let error as ValidationError {
            throw error
        } catch let error as ExitCode {
            throw error
        } catch {
            fail(error)
        }
    }

    func execute() async throws {
        let store = SessionStore(directory: SessionStore.defaultDirectory())
        if listSessions {
            printSessions(store)
            return
        }
        let config = try ChatConfig.load(ChatConfig.defaultURL())
        var saved: SavedSession? = nil
        if resume {
            guard let id = sessionID ?? store.latestID() else {
                throw ValidationError("no saved sessions in \(store.directory.path)")
            }
            saved = try store.load(id)
        }
        // The model: --model, else the resumed session's, else the config's, each with the mmproj
        // remembered for it; with none of them, the bundled demo model with a sample picture and a hint.
        var demo: DemoModel.Found? = nil
        var choice = ModelChoice.resolve(model: self.model, mmproj: mmproj, config: config, saved: saved)
        if choice == nil && !resume {
            demo = DemoModel.locate()
            choice = demo.map { ModelChoice(model: $0.model.path) }
        }
        guard let choice else {
            FileHandle.standardError.write(Data("""
            squint: no model given and no bundled demo model found: squint chat --model DIR
            (DIR holds config.json, *.safetensors and tokenizer.json, e.g. a Hugging Face snapshot)

            """.utf8))
            throw ExitCode(2)
        }
        let model = choice.model
        var environment = ProcessInfo.processInfo.environment
        if noColor { environment["NO_COLOR"] = "1" }
        let theme = try ThemeLoader.load(self.theme ?? config.theme, environment: environment)
        let colors = environment["NO_COLOR"].map(\.isEmpty) ?? true

        FileHandle.standardError.write(Data("squint: loading \(model)…\n".utf8))
        let url = try ModelLocator.resolve(model)
        let engine = try InferenceEngine(directory: url, options: EngineOptions(
            contextLength: context, quantization: try quant.map(Quantization.parse),
            tokenDelay: (environment["SQUINT_TOKEN_DELAY_MS"].flatMap(Double.init) ?? 0) / 1000,
            mmproj: choice.mmproj.map { URL(fileURLWithPath: $0) }))
        // A repo id names itself ("org/name" -> "name"); a directory by its last component.
        let name = URL(fileURLWithPath: (model as NSString).expandingTildeInPath).standardizedFileURL.lastPathComponent
        let backend = EngineBackend(engine: engine, name: name)

        var state = ChatState(info: backend.info, sessionID: SessionStore.newID())
        state.modelSource = ModelChoice(model: ModelChoice.rememberedModel(model), mmproj: choice.mmproj)
        state.settings = try sampling.settings(over: config.sampling)
        state.maxTokens = maxTokens ?? config.maxTokens ?? 512
        if let saved { state.restore(saved) } else if let system { state.setSystemPrompt(system) }
        let resumed = saved != nil
        var paths = imagePaths
        if let demo, paths.isEmpty, let sample = demo.samples.first { paths = [sample.path] }
        // First-run hint when the demo model opened because no model was named.
        let hint = demo == nil ? nil
            : "demo model (shapes, colours, counts, positions, words; EN/中文) — a real one: squint --model DIR"
        let initial = state
        let startPaths = paths

        let outcome = await UIThread.run { () -> Result<(ChatState, Data), Error> in
            let driver: CursesDriver
            do { driver = try CursesDriver(color: colors) } catch { return .failure(error) }
            var start = initial
            // Image previews: half blocks in colour (24-bit, or the 256-colour cube); text pills where
            // colours are off (NO_COLOR, --no-color, a terminal without colours).
            start.previewMode = driver.colorCapability == .none ? .text : .color
            let loop = ChatLoop(state: start, driver: driver, backend: backend, theme: theme, store: store)
            if resumed { loop.startResumeChecks() }
            loop.attachAtStart(startPaths, notice: hint)
            let final = loop.run()
            return .success((final, driver.shutdown()))
        }
        let (final, captured) = try outcome.get()
        if !captured.isEmpty { FileHandle.standardError.write(captured) }
        if final.messages.contains(where: { $0.role == .user }) {
            // The session remembers its model and mmproj; naming them again keeps the hint self-contained.
            let projector = choice.mmproj.map { " --mmproj \($0)" } ?? ""
            print("Session \(final.sessionID) saved; continue it with: squint chat --model \(model)\(projector) --resume \(final.sessionID)")
        }
    }

    func printSessions(_ store: SessionStore) {
        let list = store.list()
        if list.isEmpty {
            print("no saved sessions in \(store.directory.path)")
            return
        }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd HH:mm"
        for s in list {
            print("\(s.id)  \(f.string(from: s.updated))  \(s.messageCount) messages  \(Sanitizer.clean(s.model, singleLine: true))  \(s.title)")
        }
    }
}

/// Runs the UI loop on a thread of its own: it blocks in poll(2), which must not hold one of the
/// cooperative pool's threads (two on this machine) while generation tasks need them.
enum UIThread {
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.stackSize = 8 << 20
            thread.name = "squint-ui"
            thread.start()
        }
    }
}

extension SamplingOptions {
    /// The flags' settings over the config's: a flag left at its default keeps the config's value
    /// (ArgumentParser cannot tell a flag given with its default value from one not given).
    func settings(over config: SamplerSettings?) throws -> SamplerSettings {
        let flags = try settings()
        guard let config else { return flags }
        let d = SamplerSettings()
        var s = config
        if flags.temperature != d.temperature { s.temperature = flags.temperature }
        if flags.topK != d.topK { s.topK = flags.topK }
        if flags.topP != d.topP { s.topP = flags.topP }
        if flags.minP != d.minP { s.minP = flags.minP }
        if flags.repeatPenalty != d.repeatPenalty { s.repeatPenalty = flags.repeatPenalty }
        if flags.penaltyLastN != d.penaltyLastN { s.penaltyLastN = flags.penaltyLastN }
        if flags.presencePenalty != d.presencePenalty { s.presencePenalty = flags.presencePenalty }
        if flags.frequencyPenalty != d.frequencyPenalty { s.frequencyPenalty = flags.frequencyPenalty }
        if flags.dynatempRange != d.dynatempRange { s.dynatempRange = flags.dynatempRange }
        if flags.dynatempExponent != d.dynatempExponent { s.dynatempExponent = flags.dynatempExponent }
        if flags.headTemp != nil { s.headTemp = flags.headTemp; s.headTokens = flags.headTokens; s.headDecay = flags.headDecay }
        if flags.order != d.order { s.order = flags.order }
        // The seed: a flag's, else the config's if it names one, else the fresh random one.
        if seed != nil || config.seed == d.seed { s.seed = flags.seed }
        try s.validate()
        return s
    }
}
