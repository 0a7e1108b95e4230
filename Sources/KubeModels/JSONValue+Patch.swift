import Foundation

/// Why a patch document could not be applied; maps to `422 Invalid` or `400 BadRequest` on a server.
public struct JSONPatchError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The operation index (JSON patch) or `nil` (merge patch).
    public var operationIndex: Int?
    /// What went wrong.
    public var message: String

    public init(operationIndex: Int? = nil, message: String) {
        self.operationIndex = operationIndex
        self.message = message
    }

    public var description: String {
        if let operationIndex { return "JSON patch operation \(operationIndex): \(message)" }
        return message
    }
}

extension JSONValue {
    /// Applies a JSON merge patch (RFC 7386): objects merge recursively, `null` removes a
    /// member, anything else (arrays included) replaces.
    public func applyingMergePatch(_ patch: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var result = objectValue ?? [:]
        for (key, value) in patchMembers {
            if value == .null {
                result.removeValue(forKey: key)
            } else {
                result[key] = (result[key] ?? .null).applyingMergePatch(value)
            }
        }
        return .object(result)
    }

    /// Computes the JSON merge patch that turns `self` into `target` (inverse of `applyingMergePatch`).
    public func mergePatch(to target: JSONValue) -> JSONValue {
        guard case .object(let source) = self, case .object(let goal) = target else { return target }
        var patch: [String: JSONValue] = [:]
        for (key, value) in goal where source[key] != value {
            patch[key] = (source[key] ?? .null).mergePatch(to: value)
        }
        for key in source.keys where goal[key] == nil {
            patch[key] = .null
        }
        return .object(patch)
    }

    /// The JSON patch (RFC 6902) that turns `self` into `goal`: `add` for new members,
    /// `remove` for dropped ones, `replace` for changed scalars and for arrays whose length
    /// changed; objects and equal-length arrays are compared member by member. Applying the
    /// result to `self` gives `goal`; equal documents give an empty patch.
    public func jsonPatch(to goal: JSONValue) -> [JSONValue] {
        var operations: [JSONValue] = []
        Self.diff(self, goal, path: "", into: &operations)
        return operations
    }

    private static func diff(_ source: JSONValue, _ goal: JSONValue, path: String, into operations: inout [JSONValue]) {
        switch (source, goal) {
        case (.object(let from), .object(let to)):
            for key in from.keys.sorted() where to[key] == nil {
                operations.append(["op": "remove", "path": .string(path + "/" + JSONPointer.escape(key))])
            }
            for key in to.keys.sorted() {
                let child = path + "/" + JSONPointer.escape(key)
                if let old = from[key] {
                    diff(old, to[key]!, path: child, into: &operations)
                } else {
                    operations.append(["op": "add", "path": .string(child), "value": to[key]!])
                }
            }
        case (.array(let from), .array(let to)) where from.count == to.count:
            for index in from.indices { diff(from[index], to[index], path: path + "/\(index)", into: &operations) }
        default:
            if source != goal { operations.append(["op": "replace", "path": .string(path), "value": goal]) }
        }
    }

    /// Applies a JSON patch (RFC 6902): `add`, `remove`, `replace`, `move`, `copy`, `test`.
    /// The whole patch fails if one operation fails (nothing is half-applied).
    public func applyingJSONPatch(_ patch: JSONValue) throws(JSONPatchError) -> JSONValue {
        guard case .array(let operations) = patch else {
            throw JSONPatchError(message: "a JSON patch must be an array of operations")
        }
        var document = self
        for (index, operation) in operations.enumerated() {
            guard let op = operation["op"]?.stringValue else {
                throw JSONPatchError(operationIndex: index, message: "missing \"op\"")
            }
            guard let pathString = operation["path"]?.stringValue else {
                throw JSONPatchError(operationIndex: index, message: "missing \"path\"")
            }
            let path = try JSONPointer(pathString, operationIndex: index)
            switch op {
            case "add":
                guard let value = operation["value"] else {
                    throw JSONPatchError(operationIndex: index, message: "\"add\" needs \"value\"")
                }
                try document.add(value, at: path, operationIndex: index)
            case "remove":
                _ = try document.remove(at: path, operationIndex: index)
            case "replace":
                guard let value = operation["value"] else {
                    throw JSONPatchError(operationIndex: index, message: "\"replace\" needs \"value\"")
                }
                _ = try document.remove(at: path, operationIndex: index)
                try document.add(value, at: path, operationIndex: index)
            case "move", "copy":
                guard let fromString = operation["from"]?.stringValue else {
                    throw JSONPatchError(operationIndex: index, message: "\"\(op)\" needs \"from\"")
                }
                let from = try JSONPointer(fromString, operationIndex: index)
                let value: JSONValue
                if op == "move" {
                    if path.tokens.starts(with: from.tokens) && path.tokens.count > from.tokens.count {
                        throw JSONPatchError(operationIndex: index, message: "cannot move a value into itself")
                    }
                    value = try document.remove(at: from, operationIndex: index)
                } else {
                    value = try document.value(at: from, operationIndex: index)
                }
                try document.add(value, at: path, operationIndex: index)
            case "test":
                let expected = operation["value"] ?? .null
                let actual = try document.value(at: path, operationIndex: index)
                guard actual.isNumericallyEqual(to: expected) else {
                    throw JSONPatchError(operationIndex: index, message: "test failed at \(pathString)")
                }
            default:
                throw JSONPatchError(operationIndex: index, message: "unknown op \"\(op)\"")
            }
        }
        return document
    }

    private func isNumericallyEqual(to other: JSONValue) -> Bool {
        switch (self, other) {
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)): return Double(a) == b
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.isNumericallyEqual(to: $1) }
        case (.object(let a), .object(let b)):
            return a.keys == b.keys && a.allSatisfy { key, value in b[key].map(value.isNumericallyEqual) ?? false }
        default: return self == other
        }
    }

    private func value(at pointer: JSONPointer, operationIndex: Int) throws(JSONPatchError) -> JSONValue {
        var current = self
        for token in pointer.tokens {
            switch current {
            case .object(let members):
                guard let next = members[token] else {
                    throw JSONPatchError(operationIndex: operationIndex, message: "path \(pointer) does not exist")
                }
                current = next
            case .array(let elements):
                guard let index = Int(token), elements.indices.contains(index) else {
                    throw JSONPatchError(operationIndex: operationIndex, message: "path \(pointer) does not exist")
                }
                current = elements[index]
            default:
                throw JSONPatchError(operationIndex: operationIndex, message: "path \(pointer) does not exist")
            }
        }
        return current
    }

    private mutating func add(_ value: JSONValue, at pointer: JSONPointer, operationIndex: Int) throws(JSONPatchError) {
        guard let last = pointer.tokens.last else {
            self = value
            return
        }
        try modifyParent(of: pointer, operationIndex: operationIndex) { (parent: inout JSONValue) throws(JSONPatchError) in
            switch parent {
            case .object(var members):
                members[last] = value
                parent = .object(members)
            case .array(var elements):
                if last == "-" {
                    elements.append(value)
                } else if let index = Int(last), index >= 0, index <= elements.count {
                    elements.insert(value, at: index)
                } else {
                    throw JSONPatchError(operationIndex: operationIndex, message: "bad array index in \(pointer)")
                }
                parent = .array(elements)
            default:
                throw JSONPatchError(operationIndex: operationIndex, message: "parent of \(pointer) is not a container")
            }
        }
    }

    private mutating func remove(at pointer: JSONPointer, operationIndex: Int) throws(JSONPatchError) -> JSONValue {
        guard let last = pointer.tokens.last else {
            throw JSONPatchError(operationIndex: operationIndex, message: "cannot remove the whole document")
        }
        var removed = JSONValue.null
        try modifyParent(of: pointer, operationIndex: operationIndex) { (parent: inout JSONValue) throws(JSONPatchError) in
            switch parent {
            case .object(var members):
                guard let value = members.removeValue(forKey: last) else {
                    throw JSONPatchError(operationIndex: operationIndex, message: "path \(pointer) does not exist")
                }
                removed = value
                parent = .object(members)
            case .array(var elements):
                guard let index = Int(last), elements.indices.contains(index) else {
                    throw JSONPatchError(operationIndex: operationIndex, message: "path \(pointer) does not exist")
                }
                removed = elements.remove(at: index)
                parent = .array(elements)
            default:
                throw JSONPatchError(operationIndex: operationIndex, message: "path \(pointer) does not exist")
            }
        }
        return removed
    }

    private mutating func modifyParent(
        of pointer: JSONPointer,
        operationIndex: Int,
        _ body: (inout JSONValue) throws(JSONPatchError) -> Void
    ) throws(JSONPatchError) {
        try Self.modify(&self, tokens: pointer.tokens.dropLast(), pointer: pointer, operationIndex: operationIndex, body)
    }

    private static func modify(
        _ node: inout JSONValue,
        tokens: ArraySlice<String>,
        pointer: JSONPointer,
        operationIndex: Int,
        _ body: (inout JSONValue) throws(JSONPatchError) -> Void
    ) throws(JSONPatchError) {
        guard let token = tokens.first else {
            try body(&node)
            return
        }
        switch node {
        case .object(var members):
            guard var child = members[token] else {
                throw JSONPatchError(operationIndex: operationIndex, message: "path \(pointer) does not exist")
            }
            members[token] = nil
            try modify(&child, tokens: tokens.dropFirst(), pointer: pointer, operationIndex: operationIndex, body)
            members[token] = child
            node = .object(members)
        case .array(var elements):
            guard let index = Int(token), elements.indices.contains(index) else {
                throw JSONPatchError(operationIndex: operationIndex, message: "path \(pointer) does not exist")
            }
            var child = elements[index]
            try modify(&child, tokens: tokens.dropFirst(), pointer: pointer, operationIndex: operationIndex, body)
            elements[index] = child
            node = .array(elements)
        default:
            throw JSONPatchError(operationIndex: operationIndex, message: "path \(pointer) does not exist")
        }
    }
}

/// A parsed RFC 6901 JSON pointer.
struct JSONPointer: CustomStringConvertible {
    var tokens: [String]
    var description: String

    /// A member name as a pointer token (`~` → `~0`, `/` → `~1`).
    static func escape(_ token: String) -> String {
        guard token.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return token }
        return token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    init(_ string: String, operationIndex: Int) throws(JSONPatchError) {
        description = string
        if string.isEmpty {
            tokens = []
            return
        }
        guard string.hasPrefix("/") else {
            throw JSONPatchError(operationIndex: operationIndex, message: "path \"\(string)\" must start with /")
        }
        tokens = string.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }
}
