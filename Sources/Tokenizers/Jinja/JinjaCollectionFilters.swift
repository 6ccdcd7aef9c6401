import Foundation

/// JinjaFilters over sequences: select/reject(attr), map, unique, sort, batch, sum, min, max.
enum JinjaCollectionFilters {
    static let table: [String: JinjaFilters.Filter] = [
        "selectattr": { v, a, i in try selectOrReject(v, a, i, byAttribute: true, keep: true) },
        "rejectattr": { v, a, i in try selectOrReject(v, a, i, byAttribute: true, keep: false) },
        "select": { v, a, i in try selectOrReject(v, a, i, byAttribute: false, keep: true) },
        "reject": { v, a, i in try selectOrReject(v, a, i, byAttribute: false, keep: false) },
        "map": { v, a, i in try map(v, a, i) },
        "unique": { v, a, i in
            let caseSensitive = a.value(0, "case_sensitive")?.isTruthy ?? false
            let attr = a.value(1, "attribute").map(JinjaPythonFormat.str)
            var seen: [JinjaValue] = []
            var out: [JinjaValue] = []
            for item in try i.iterate(v) {
                let key = JinjaFilters.sortKey(try attr.map { try JinjaFilters.attribute(item, $0, i) } ?? item, caseSensitive)
                switch key {
                case .array, .object, .namespace: throw i.error("unhashable type: '\(key.typeName)'")
                default: break
                }
                if !seen.contains(key) { seen.append(key); out.append(item) }
            }
            return .array(out)
        },
        "sort": { v, a, i in
            let reverse = a.value(0, "reverse")?.isTruthy ?? false
            let caseSensitive = a.value(1, "case_sensitive")?.isTruthy ?? false
            let attrs = a.value(2, "attribute").map { JinjaPythonFormat.str($0).split(separator: ",").map(String.init) }
            return .array(try JinjaFilters.sorted(try i.iterate(v), reverse: reverse, interp: i) { item in
                guard let attrs else { return JinjaFilters.sortKey(item, caseSensitive) }
                let keys = try attrs.map { JinjaFilters.sortKey(try JinjaFilters.attribute(item, $0, i), caseSensitive) }
                return keys.count == 1 ? keys[0] : .array(keys)
            })
        },
        "batch": { v, a, i in
            guard let size = a.value(0, "linecount").flatMap(JinjaInterpreter.intIndex), size > 0 else {
                throw i.error("batch needs a positive line count")
            }
            try i.checkSize(size)
            let fill = a.value(1, "fill_with")
            var out: [JinjaValue] = []
            var row: [JinjaValue] = []
            for item in try i.iterate(v) {
                row.append(item)
                if row.count == size { out.append(.array(row)); row = [] }
            }
            if !row.isEmpty {
                if let fill, !(fill == .none) { row += Array(repeating: fill, count: size - row.count) }
                out.append(.array(row))
            }
            return .array(out)
        },
        "sum": { v, a, i in
            let attr = a.value(0, "attribute").map(JinjaPythonFormat.str)
            var total = a.value(1, "start") ?? .int(0)
            for item in try i.iterate(v) {
                total = try i.binary(.add, total, try attr.map { try JinjaFilters.attribute(item, $0, i) } ?? item)
            }
            return total
        },
        "max": { v, a, i in try extreme(v, a, i, wantMax: true) },
        "min": { v, a, i in try extreme(v, a, i, wantMax: false) },
    ]

    private static func selectOrReject(_ v: JinjaValue, _ a: JinjaArguments, _ i: JinjaInterpreter,
                                       byAttribute: Bool, keep: Bool) throws -> JinjaValue {
        var rest = a.positional
        var attr: String?
        if byAttribute {
            guard !rest.isEmpty else { throw i.error("Missing parameter for attribute name") }
            attr = JinjaPythonFormat.str(rest.removeFirst())
        }
        var testName: String?
        if !rest.isEmpty { testName = JinjaPythonFormat.str(rest.removeFirst()) }
        if let testName, !JinjaTestFunctions.isKnown(testName) { throw i.error("No test named '\(testName)'.") }
        let testArgs = JinjaArguments(positional: rest, keyword: a.keyword)
        var out: [JinjaValue] = []
        // jinja2 guards with `if seq:`, so any falsy value (None included) selects nothing.
        guard v.isTruthy else { return .array([]) }
        for item in try i.iterate(v) {
            let subject = try attr.map { try JinjaFilters.attribute(item, $0, i) } ?? item
            let passed = try testName.map { try JinjaTestFunctions.apply($0, subject, testArgs, i) } ?? subject.isTruthy
            if passed == keep { out.append(item) }
        }
        return .array(out)
    }

    private static func map(_ v: JinjaValue, _ a: JinjaArguments, _ i: JinjaInterpreter) throws -> JinjaValue {
        let items = v.isTruthy ? try i.iterate(v) : []  // jinja2's `if seq:` guard
        if case .string(let attr)? = a.keywordValue("attribute") {
            let dflt = a.keywordValue("default")
            return .array(try items.map {
                let got = try JinjaFilters.attribute($0, attr, i)
                if got.isUndefined, let dflt { return dflt }
                return got
            })
        }
        guard let first = a.positional.first, case .string(let filterName) = first else {
            throw i.error("map requires a filter name or attribute=")
        }
        guard JinjaFilters.isKnown(filterName) else { throw i.error("No filter named '\(filterName)'.") }
        let filterArgs = JinjaArguments(positional: Array(a.positional.dropFirst()), keyword: a.keyword)
        return .array(try items.map { try JinjaFilters.apply(filterName, $0, filterArgs, i) })
    }

    private static func extreme(_ v: JinjaValue, _ a: JinjaArguments, _ i: JinjaInterpreter, wantMax: Bool) throws -> JinjaValue {
        let caseSensitive = a.value(0, "case_sensitive")?.isTruthy ?? false
        let attr = a.value(1, "attribute").map(JinjaPythonFormat.str)
        var best: (JinjaValue, JinjaValue)?
        for item in try i.iterate(v) {
            let key = JinjaFilters.sortKey(try attr.map { try JinjaFilters.attribute(item, $0, i) } ?? item, caseSensitive)
            if let current = best {
                let order = try i.ordering(key, current.1, wantMax ? ">" : "<")
                if wantMax ? order > 0 : order < 0 { best = (item, key) }
            } else {
                best = (item, key)
            }
        }
        return best?.0 ?? .undefined
    }
}
