import Foundation
import TensorCore
import ModelFormats
import Tokenizers

/// How to load a model.
public struct LoadOptions: Sendable, Equatable {
    /// Re-encode the language model's matrices in this block format at load (`--quant`).
    public var quantization: DType?
    /// A GGUF model's vision part: llama.cpp's `mmproj` file (`--mmproj`). nil: looked for beside the
    /// model (`ModelLocator.mmproj(beside:)`) when its architecture has a vision part.
    public var mmproj: URL?
    public init(quantization: DType? = nil, mmproj: URL? = nil) {
        self.quantization = quantization
        self.mmproj = mmproj
    }
}

/// A model directory as downloaded from the Hugging Face hub, loaded: weights (mmap'd), tokenizer,
/// chat template and generation defaults. Both the transformers 4.x and 5.x layouts are understood.
/// A single `.gguf` file (llama.cpp's format, found by its magic) is loaded too: see `init(gguf:)`.
public final class LoadedModel: @unchecked Sendable {
    /// The model directory, or the `.gguf` file.
    public let directory: URL
    public let modelType: String
    public let familyName: String
    public let language: any LanguageModel
    public let tokenizer: Tokenizer
    public let chatTemplate: ChatTemplate?
    /// Ids that end a reply: generation_config.json's `eos_token_id`, the config's, and the tokenizer's eos.
    public let stopTokenIDs: Set<Int>
    /// The vision side of vision-language families (nil for text-only models: images are refused).
    public let vision: (any VisionLanguage)?
    public var isMultimodal: Bool { vision != nil }
    /// The mmproj file the vision part was loaded from (GGUF models).
    public let mmproj: URL?
    /// A GGUF vision-language text model loaded without its mmproj file: why images are refused.
    public let missingVisionPart: String?

    /// A model directory, or a GGUF file (recognised by its magic).
    public convenience init(directory: URL, options: LoadOptions = LoadOptions()) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDir), !isDir.boolValue,
           GGUFFile.hasMagic(path: directory.path) {
            if options.quantization != nil {
                // A GGUF's matrices are stored in the types it was made with; quantizing them again at load
                // is not done (llama-quantize or `squint quantize --type` make a file of another type).
                throw ModelError.invalidConfigValue(path: directory.path, key: "--quant",
                    reason: "applies to safetensors checkpoints; a GGUF file keeps the types it was written with (make another with llama-quantize or squint quantize --type)")
            }
            try self.init(gguf: directory, mmproj: options.mmproj)
        } else {
            if let mmproj = options.mmproj {
                throw ModelError.invalidConfigValue(path: mmproj.path, key: "--mmproj",
                    reason: "an mmproj file goes with a GGUF model; \(directory.path) is not one")
            }
            try self.init(hub: directory, options: options)
            ProcessHeap.releaseFreeHeap()
        }
    }

    private init(hub directory: URL, options: LoadOptions) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw ModelError.cannotRead(path: directory.path, reason: "no such model directory")
        }
        self.directory = directory
        let config = try JSONConfig.load(directory.appendingPathComponent("config.json"))
        guard let type = try config.optionalString("model_type") else {
            throw ModelError.missingConfigKey(path: config.path, key: "model_type")
        }
        modelType = type
        guard let family = ModelRegistry.family(for: type) else {
            throw ModelError.unsupportedModelType(path: config.path, modelType: type,
                                                  supported: ModelRegistry.supportedModelTypes)
        }
        familyName = family.displayName
        mmproj = nil
        missingVisionPart = nil
        var weights = try WeightStore(directory: directory)
        if let quant = options.quantization { weights = try Quantization.plan(quant, for: weights) }
        let loaded = try family.load(LoadContext(directory: directory, config: config, modelType: type, weights: weights))
        language = loaded.language
        vision = loaded.vision

        do {
            tokenizer = try Tokenizer(directory: directory)
        }
        if let source = try Tokenizer.findChatTemplate(in: directory) {
            chatTemplate = try ChatTemplate(source)
        } else {
            chatTemplate = nil
        }

        var stops = Set(language.config.eosTokenIDs)
        if let gen = try JSONConfig.loadIfPresent(directory.appendingPathComponent("generation_config.json")) {
            stops.formUnion(try gen.intList("eos_token_id"))
        }
        if let eos = tokenizer.eosToken, let id = tokenizer.id(forToken: eos) { stops.insert(id) }
        stopTokenIDs = stops
    }

    /// A model in GGUF files as llama.cpp writes them: the text model (architectures `qwen2`, `llama`,
    /// `qwen2vl`), weights mapped from the file, tokenizer and chat template from its `tokenizer.*`
    /// metadata; for `qwen2vl`, the vision part from llama.cpp's mmproj file (`mmproj`, else one found
    /// beside the model; without one, images are refused with `missingVisionPart` saying why). A `qwen2` or
    /// `llama` model with a MiniCPM-V mmproj (projector `resampler`, given or beside it) is MiniCPM-V; a
    /// `llama` model with a SmolVLM / Idefics3 mmproj (projector `idefics3`) is SmolVLM.
    public init(gguf url: URL, mmproj explicit: URL? = nil) throws {
        let file = try GGUFFile(path: url.path)
        var meta = GGUFMetadata(file)
        let arch = try meta.string("general.architecture")
        if arch == "clip" {
            throw ModelError.invalidConfigValue(path: url.path, key: "general.architecture",
                reason: "this is a llama.cpp mmproj (vision) file: give the text model with --model and this file with --mmproj")
        }
        guard GGUFTextModel.architectures.contains(arch) else {
            throw ModelError.unsupportedArchitecture(path: url.path, architecture: arch, supported: GGUFTextModel.architectures)
        }
        directory = url
        modelType = arch
        var familyName = ["qwen2": "Qwen2 (GGUF)", "qwen2vl": "Qwen2-VL (GGUF)"][arch] ?? "Llama (GGUF)"
        let built = try GGUFTokenizer.load(meta)
        // The vocabulary arrays live on in the tokenizer: the parsed copies (and the tokenizer's intermediate
        // forms) are freed and their pages returned before the weights are read, so the peak holds neither.
        file.dropMetadataArrays(longerThan: 4096)
        meta = GGUFMetadata(file)
        ProcessHeap.releaseFreeHeap()
        language = try GGUFTextModel.load(file, meta, architecture: arch)
        tokenizer = built.tokenizer
        chatTemplate = try built.chatTemplate.map { try ChatTemplate($0) }
        stopTokenIDs = built.stopTokenIDs.union(language.config.eosTokenIDs)

        // The vision part: an explicit --mmproj must fit the text model; one found beside it is used when
        // it does (a Qwen2 or Llama GGUF is a text model of its own unless a MiniCPM-V mmproj is there).
        var found: URL?
        var projector: String?
        var guessed = false
        if let explicit {
            guard FileManager.default.isReadableFile(atPath: explicit.path) else {
                throw ModelError.cannotRead(path: explicit.path, reason: "no such mmproj file or not readable")
            }
            let type = try GGUFVision.projectorType(try GGUFFile(path: explicit.path))
            let archs = GGUFVision.textArchitectures(for: type)
            guard archs.contains(arch) else {
                throw ModelError.invalidConfigValue(path: explicit.path, key: "clip.projector_type",
                    reason: "projector '\(type)' needs a \(archs.joined(separator: " or ")) text model, but \(url.lastPathComponent) is '\(arch)'")
            }
            (found, projector) = (explicit, type)
        } else if arch == "qwen2vl" {
            found = try ModelLocator.mmproj(beside: url)
            if let found { projector = try GGUFVision.projectorType(try GGUFFile(path: found.path)) }
        } else if let beside = try? ModelLocator.mmproj(beside: url),
                  let file = try? GGUFFile(path: beside.path), let type = try? GGUFVision.projectorType(file),
                  GGUFVision.textArchitectures(for: type).contains(arch) {
            (found, projector, guessed) = (beside, type, true)
        }
        var loaded: (vision: any VisionLanguage, family: String?)?
        if let candidate = found, let type = projector {
            let textHidden = language.config.hiddenSize, textTokenizer = built.tokenizer
            if guessed {
                // Only beside it, not asked for: an mmproj of another model in the same folder (a width
                // that does not fit, say) leaves this one a text model rather than unloadable.
                loaded = try? Self.loadVision(projector: type, mmproj: candidate, arch: arch, url: url,
                                              textHidden: textHidden, tokenizer: textTokenizer)
                if loaded == nil { found = nil }
            } else {
                loaded = try Self.loadVision(projector: type, mmproj: candidate, arch: arch, url: url,
                                             textHidden: textHidden, tokenizer: textTokenizer)
            }
        }
        if let loaded {
            vision = loaded.vision
            if let family = loaded.family { familyName = family }
            missingVisionPart = nil
        } else {
            vision = nil
            // A Llama text model with SmolVLM's layout tokens is SmolVLM's language half.
            let smolVLM = arch == "llama"
                && ["<fake_token_around_image>", "<global-img>"].allSatisfy { built.tokenizer.id(forToken: $0) != nil }
            missingVisionPart = arch == "qwen2vl" || smolVLM
                ? "\(url.lastPathComponent) is the text half of a vision model and no mmproj file was found beside it: give llama.cpp's mmproj file with --mmproj FILE"
                : nil
        }
        mmproj = found
        self.familyName = familyName
        // The metadata arrays and the tokenizer's intermediate forms are freed by now; without this their
        // pages would stay resident next to the weights.
        ProcessHeap.releaseFreeHeap()
    }

    /// The vision part from an mmproj of the given projector type, and the family name it makes.
    private static func loadVision(projector: String, mmproj: URL, arch: String, url: URL, textHidden: Int,
                                   tokenizer: Tokenizer) throws -> (vision: any VisionLanguage, family: String?) {
        switch projector {
        case "resampler":
            return (try GGUFMiniCPMV.load(mmproj: mmproj, textHidden: textHidden, tokenizer: tokenizer, textPath: url.path),
                    "MiniCPM-V (GGUF)")
        case "idefics3":
            return (try GGUFSmolVLM.load(mmproj: mmproj, textHidden: textHidden, tokenizer: tokenizer, textPath: url.path),
                    "SmolVLM (GGUF)")
        default:
            guard arch == "qwen2vl" else {
                throw ModelError.invalidConfigValue(path: mmproj.path, key: "clip.projector_type",
                    reason: "projector '\(projector)' needs a qwen2vl text model, but \(url.lastPathComponent) is '\(arch)'")
            }
            return (try GGUFVision.load(mmproj: mmproj, textHidden: textHidden, tokenizer: tokenizer, textPath: url.path), nil)
        }
    }
}
