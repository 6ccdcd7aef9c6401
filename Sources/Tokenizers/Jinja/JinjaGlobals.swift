import Foundation

/// The global functions a transformers chat template can call: jinja2's `range`, `namespace`, `dict`
/// plus transformers' `raise_exception` and `strftime_now`.
enum JinjaGlobals {
    /// jinja2's sandbox refuses ranges longer than this (MAX_RANGE).
    static let maxRange = 100_000

    static func make(_ interp: JinjaInterpreter) -> [String: JinjaValue] {
        func fn(_ name: String, _ body: @escaping (JinjaArguments) throws -> JinjaValue) -> JinjaValue {
            .callable(JinjaCallable(name: name, body: body))
        }
        return [
            "range": fn("range") { [unowned interp] args in try range(args, interp) },
            "namespace": fn("namespace") { [unowned interp] args in
                let attrs = try dictFromArguments(args, interp)
                for key in attrs.keys { try checkNamespaceName(key, interp) }
                let ns = JinjaValue.namespace(JinjaNamespace(attrs))
                try interp.checkNesting(ns)
                return ns
            },
            "dict": fn("dict") { [unowned interp] args in try interp.wrapped(.object(try dictFromArguments(args, interp))) },
            "raise_exception": fn("raise_exception") { args in
                throw ChatTemplateError.raised(JinjaPythonFormat.str(args.value(0, "message") ?? .undefined))
            },
            "strftime_now": fn("strftime_now") { [unowned interp] args in
                guard case .string(let format)? = args.value(0, "format") else {
                    throw interp.error("strftime_now() argument must be str")
                }
                return .string(strftime(format, interp.environment.now(), interp.environment.timeZone))
            },
        ]
    }

    static func checkNamespaceName(_ name: String, _ interp: JinjaInterpreter) throws {
        if name.hasPrefix("_") {
            throw interp.error("Chat templates cannot store underscore-prefixed attributes on a namespace, but got "
                               + "\(JinjaPythonFormat.stringRepr(name)). Please rename the attribute.")
        }
    }

    /// `dict(mapping_or_pairs, **kwargs)`.
    private static func dictFromArguments(_ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaObject {
        var object = JinjaObject()
        if let first = args.positional.first {
            switch first {
            case .object(let o): object = o
            case .namespace(let ns): object = ns.attributes
            default:
                for pair in try interp.iterate(first) {
                    let kv = try interp.iterate(pair)
                    guard kv.count == 2, case .string(let k) = kv[0] else {
                        throw interp.error("dictionary update sequence element has wrong length or key type")
                    }
                    object[k] = kv[1]
                }
            }
        }
        for (k, v) in args.keyword { object[k] = v }
        return object
    }

    private static func range(_ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaValue {
        let ints: [Int] = try args.positional.map {
            guard let i = JinjaInterpreter.intIndex($0) else {
                throw interp.error("'\($0.typeName)' object cannot be interpreted as an integer")
            }
            return i
        }
        var (start, stop, step) = (0, 0, 1)
        switch ints.count {
        case 1: stop = ints[0]
        case 2: (start, stop) = (ints[0], ints[1])
        case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
        default: throw interp.error("range expected 1 to 3 arguments, got \(ints.count)")
        }
        guard step != 0 else { throw interp.error("range() arg 3 must not be zero") }
        let count: Int
        if step > 0 { count = stop > start ? (stop - start + step - 1) / step : 0 } else {
            count = start > stop ? (start - stop - step - 1) / -step : 0
        }
        if count > maxRange {
            throw interp.error("Range too big. The sandbox blocks ranges larger than MAX_RANGE (\(maxRange)).")
        }
        return .array((0..<count).map { .int(start + $0 * step) })
    }

    private static let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August",
                                     "September", "October", "November", "December"]
    private static let dayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    /// Python's `datetime.strftime` in the C locale for the directives templates use.
    static func strftime(_ format: String, _ date: Date, _ zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: date)
        let (year, month, day) = (c.year ?? 1970, c.month ?? 1, c.day ?? 1)
        let (hour, minute, second) = (c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
        let weekday = (c.weekday ?? 1) - 1  // 0 = Sunday
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var out = ""
        var it = format.makeIterator()
        while let ch = it.next() {
            guard ch == "%" else { out.append(ch); continue }
            guard let d = it.next() else { out.append("%"); break }
            switch d {
            case "Y": out += String(year)
            case "y": out += two(year % 100)
            case "m": out += two(month)
            case "d": out += two(day)
            case "e": out += (day < 10 ? " " : "") + String(day)
            case "H": out += two(hour)
            case "I": out += two(hour % 12 == 0 ? 12 : hour % 12)
            case "M": out += two(minute)
            case "S": out += two(second)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "B": out += monthNames[month - 1]
            case "b", "h": out += String(monthNames[month - 1].prefix(3))
            case "A": out += dayNames[weekday]
            case "a": out += String(dayNames[weekday].prefix(3))
            case "j": out += String(repeating: "0", count: max(0, 3 - String(dayOfYear).count)) + String(dayOfYear)
            case "w": out += String(weekday)
            case "u": out += String(weekday == 0 ? 7 : weekday)
            case "f": out += String(format: "%06d", (c.nanosecond ?? 0) / 1000)
            case "F": out += "\(year)-\(two(month))-\(two(day))"
            case "T": out += "\(two(hour)):\(two(minute)):\(two(second))"
            case "D": out += "\(two(month))/\(two(day))/\(two(year % 100))"
            case "%": out += "%"
            case "-":
                // glibc's "%-d" style: no padding.
                guard let e = it.next() else { out += "%-"; break }
                switch e {
                case "d": out += String(day)
                case "m": out += String(month)
                case "H": out += String(hour)
                case "I": out += String(hour % 12 == 0 ? 12 : hour % 12)
                case "M": out += String(minute)
                case "S": out += String(second)
                case "j": out += String(dayOfYear)
                default: out += "%-" + String(e)
                }
            default: out += "%" + String(d)
            }
        }
        return out
    }
}
