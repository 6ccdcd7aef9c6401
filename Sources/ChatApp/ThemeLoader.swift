import Foundation
import TerminalUI

/// Finds a theme by name or path: a path to a file; else NAME.theme in $XDG_CONFIG_HOME/squint/themes,
/// next to the executable (share/squint/themes, Themes/), or the checkout's Themes/ directory; "dark"
/// is built in and needs no file. NO_COLOR (set and not empty) removes every colour.
public enum ThemeLoader {
    public static func load(_ nameOrPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            executable: URL = URL(fileURLWithPath: CommandLine.arguments.first ?? "squint")) throws -> Theme {
        var theme = Theme.builtinDark
        if let requested = nameOrPath, requested != "dark" {
            let candidates = searchPaths(requested, environment: environment, executable: executable)
            guard let url = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
                if requested == "monochrome" { return Theme.builtinDark.withoutColor }
                throw ThemeError.notFound(name: requested, searched: candidates.map(\.path))
            }
            let text: String
            do { text = try String(contentsOf: url, encoding: .utf8) } catch {
                throw ThemeError.unreadable(path: url.path, reason: "\(error)")
            }
            theme = try Theme.parse(text, name: url.deletingPathExtension().lastPathComponent, source: url.path)
        }
        if let noColor = environment["NO_COLOR"], !noColor.isEmpty { theme = theme.withoutColor }
        return theme
    }

    static func searchPaths(_ requested: String, environment: [String: String], executable: URL) -> [URL] {
        if requested.contains("/") || requested.hasSuffix(".theme") { return [URL(fileURLWithPath: requested)] }
        let file = requested + ".theme"
        var dirs: [URL] = []
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            dirs.append(URL(fileURLWithPath: xdg).appendingPathComponent("squint/themes"))
        } else if let home = environment["HOME"] {
            dirs.append(URL(fileURLWithPath: home).appendingPathComponent(".config/squint/themes"))
        }
        let binDir = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        dirs.append(binDir.appendingPathComponent("../share/squint/themes"))
        dirs.append(binDir.appendingPathComponent("Themes"))
        dirs.append(binDir.appendingPathComponent("../../Themes"))       // .build/debug/squint in a checkout
        dirs.append(binDir.appendingPathComponent("../../../Themes"))    // .build/<triple>/debug/squint
        return dirs.map { $0.appendingPathComponent(file).standardizedFileURL }
    }
}
