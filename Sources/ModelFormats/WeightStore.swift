import Foundation
import TensorCore

/// All weights of a model directory: a single `model.safetensors`, a sharded set named by
/// `model.safetensors.index.json` (`{"weight_map": {tensor: shard file}}`), or any `*.safetensors` files.
public final class WeightStore: @unchecked Sendable {
    public let directory: URL
    public let files: [SafetensorsFile]
    private let byName: [String: TensorView]
    private let unsupported: [String: (path: String, dtype: String)]
    /// Block types some matrices are to be quantized into when a model is built from this store (`--quant`):
    /// `tensor` still returns them as stored, and the model quantizes each as it copies it into its own
    /// memory (see `DecoderModel`), so no second full copy of the weights exists at any time.
    public let quantizeAtLoad: [String: DType]

    public init(directory: URL) throws {
        self.directory = directory
        let fm = FileManager.default
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        var shardNames: [String]
        if fm.fileExists(atPath: index.path) {
            shardNames = try Self.readIndex(index)
            for shard in shardNames where !fm.fileExists(atPath: directory.appendingPathComponent(shard).path) {
                throw ModelFormatError.missingShard(index: index.path, shard: shard)
            }
        } else {
            let listing = (try? fm.contentsOfDirectory(atPath: directory.path)) ?? []
            shardNames = listing.filter { $0.hasSuffix(".safetensors") }.sorted()
        }
        guard !shardNames.isEmpty else { throw ModelFormatError.noWeights(directory: directory.path) }
        files = try shardNames.map { try SafetensorsFile(path: directory.appendingPathComponent($0).path) }
        var byName: [String: TensorView] = [:]
        var unsupported: [String: (String, String)] = [:]
        for file in files {
            for (name, view) in file.tensors { byName[name] = view }
            for (name, dtype) in file.unsupported { unsupported[name] = (file.path, dtype) }
        }
        self.byName = byName
        self.unsupported = unsupported
        self.quantizeAtLoad = [:]
    }

    /// This store's tensors with quantization targets for some of them (see `quantizeAtLoad`).
    public init(_ store: WeightStore, quantizeAtLoad: [String: DType]) {
        directory = store.directory
        files = store.files
        byName = store.byName
        unsupported = store.unsupported
        self.quantizeAtLoad = quantizeAtLoad
    }

    /// A store over views made in memory (tests, converted weights).
    public init(tensors: [TensorView], directory: URL = URL(fileURLWithPath: "/")) {
        self.directory = directory
        self.files = []
        self.byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.unsupported = [:]
        self.quantizeAtLoad = [:]
    }

    /// A store over one GGUF file's tensors, under their GGUF names (`blk.0.attn_q.weight`, ...): the
    /// caller maps them to a family's names. Tensors of types Squint cannot compute with are an error only
    /// when asked for, as with safetensors.
    public init(gguf file: GGUFFile) {
        self.directory = URL(fileURLWithPath: file.path).deletingLastPathComponent()
        self.files = []
        let (views, unsupported) = file.views()
        self.byName = views
        self.unsupported = unsupported.mapValues { (file.path, $0) }
        self.quantizeAtLoad = [:]
    }

    static func readIndex(_ url: URL) throws -> [String] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelFormatError.cannotRead(path: url.path, reason: error.localizedDescription)
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelFormatError.invalidIndex(path: url.path, reason: "not a JSON object")
        }
        guard let map = json["weight_map"] as? [String: Any] else {
            throw ModelFormatError.invalidIndex(path: url.path, reason: "missing 'weight_map'")
        }
        var shards = Set<String>()
        for (tensor, file) in map {
            guard let file = file as? String, !file.contains("/"), !file.isEmpty else {
                throw ModelFormatError.invalidIndex(path: url.path, reason: "bad shard name for '\(tensor)'")
            }
            shards.insert(file)
        }
        return shards.sorted()
    }

    public var names: [String] { byName.keys.sorted() }
    public func contains(_ name: String) -> Bool { byName[name] != nil }

    /// Total bytes of all usable tensors.
    public var totalBytes: Int { byName.values.reduce(0) { $0 + $1.byteCount } }

    public func tensor(_ name: String) throws -> TensorView {
        if let view = byName[name] { return view }
        if let (path, dtype) = unsupported[name] {
            throw ModelFormatError.unsupportedDType(path: path, tensor: name, dtype: dtype)
        }
        throw ModelFormatError.missingTensor(name: name, directory: directory.path)
    }

    /// The tensor, checked to have `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> TensorView {
        let view = try tensor(name)
        guard view.shape == shape else {
            throw ModelFormatError.invalidTensorEntry(
                path: directory.path, tensor: name,
                reason: "shape \(view.shape) does not match the config's \(shape)")
        }
        return view
    }

    public func optionalTensor(_ name: String, shape: [Int]) throws -> TensorView? {
        contains(name) ? try tensor(name, shape: shape) : nil
    }
}
