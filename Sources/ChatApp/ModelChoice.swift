import Foundation

/// Which model (and GGUF vision projector) `squint chat` opens, from the flags, the config file and,
/// with `--resume`, the saved session: a session opened with `--model X.gguf --mmproj Y.gguf` reopens
/// with the same projector even when `--mmproj` is not given again.
public struct ModelChoice: Sendable, Equatable {
    /// As `--model` takes it: a path, a Hugging Face repo id or an Ollama name.
    public var model: String
    /// The mmproj file (an absolute path), or nil to look for one beside the model.
    public var mmproj: String?

    public init(model: String, mmproj: String? = nil) {
        self.model = model
        self.mmproj = mmproj
    }

    /// Flags win; without `--model`, a resumed session's own model comes before the config's. An
    /// mmproj is carried over only with the model it was remembered for: `--model OTHER.gguf` must
    /// not pick up a projector saved for a different text model. nil: no model anywhere.
    public static func resolve(model flagModel: String?, mmproj flagMmproj: String?,
                               config: ChatConfig, saved: SavedSession?,
                               cwd: String = FileManager.default.currentDirectoryPath) -> ModelChoice? {
        let flagMmproj = flagMmproj.map { absolutePath($0, cwd: cwd) }
        // What was remembered, as (model, mmproj) pairs, most specific first.
        var remembered: [(String, String?)] = []
        if let saved, let m = saved.modelPath { remembered.append((m, saved.mmproj)) }
        if let m = config.model { remembered.append((m, config.mmproj.map { absolutePath($0, cwd: cwd) })) }
        if let flagModel {
            let key = modelKey(flagModel, cwd: cwd)
            let match = remembered.first { modelKey($0.0, cwd: cwd) == key }
            return ModelChoice(model: flagModel, mmproj: flagMmproj ?? match?.1 ?? nil)
        }
        guard let (model, mmproj) = remembered.first else { return nil }
        return ModelChoice(model: model, mmproj: flagMmproj ?? mmproj)
    }

    /// What a session records for `--model`: an absolute path when it names a file or folder here
    /// (so resuming works from another directory), else the name as given (a repo id, an Ollama name).
    public static func rememberedModel(_ model: String, cwd: String = FileManager.default.currentDirectoryPath) -> String {
        let path = absolutePath(model, cwd: cwd)
        return FileManager.default.fileExists(atPath: path) ? path : model
    }

    /// `~` expanded, made absolute against `cwd`, `.`/`..` resolved.
    public static func absolutePath(_ path: String, cwd: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let absolute = expanded.hasPrefix("/") ? expanded : (cwd as NSString).appendingPathComponent(expanded)
        return (absolute as NSString).standardizingPath
    }

    private static func modelKey(_ model: String, cwd: String) -> String {
        let path = absolutePath(model, cwd: cwd)
        return FileManager.default.fileExists(atPath: path) ? path : model
    }
}
