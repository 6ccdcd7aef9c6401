import Foundation

/// The bundled demo model and its sample pictures, found wherever squint runs from: an install
/// (`PREFIX/share/squint/` beside `PREFIX/bin/squint`), a checkout (`Assets/` above `.build/...`), or the
/// current folder. `SQUINT_ASSETS` names the folder explicitly.
enum DemoModel {
    struct Found {
        var model: URL
        var samples: [URL]
    }

    static func candidates(environment env: [String: String] = ProcessInfo.processInfo.environment) -> [URL] {
        var roots: [URL] = []
        if let dir = env["SQUINT_ASSETS"], !dir.isEmpty { roots.append(URL(fileURLWithPath: dir)) }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        roots.append(exe.deletingLastPathComponent().appendingPathComponent("share/squint"))
        // A checkout: walk up from the executable (.build/<triple>/<config>/squint) to the repo's Assets.
        var dir = exe
        for _ in 0..<6 {
            roots.append(dir.appendingPathComponent("Assets"))
            dir = dir.deletingLastPathComponent()
        }
        roots.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Assets"))
        return roots
    }

    static func locate(environment env: [String: String] = ProcessInfo.processInfo.environment) -> Found? {
        let fm = FileManager.default
        for root in candidates(environment: env) {
            let model = root.appendingPathComponent("demo-model")
            guard fm.fileExists(atPath: model.appendingPathComponent("config.json").path) else { continue }
            let samplesDir = root.appendingPathComponent("samples")
            let samples = ((try? fm.contentsOfDirectory(atPath: samplesDir.path)) ?? [])
                .filter { ["png", "jpg", "jpeg"].contains(($0 as NSString).pathExtension.lowercased()) }
                .sorted()
                .map { samplesDir.appendingPathComponent($0) }
            return Found(model: model, samples: samples)
        }
        return nil
    }
}
