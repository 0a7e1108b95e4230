import Foundation
import KubeModels
import Synchronization

/// A resource type the test server serves.
public struct TestResource: Sendable, Hashable {
    public var gvr: GroupVersionResource
    /// With a status subresource, the main endpoint ignores `status` and `/status` ignores everything else.
    public var statusSubresource: Bool

    public init(_ gvr: GroupVersionResource, statusSubresource: Bool = true) {
        self.gvr = gvr
        self.statusSubresource = statusSubresource
    }

    public init<R: KubeResource>(_ type: R.Type, statusSubresource: Bool = true) {
        self.init(R.resource, statusSubresource: statusSubresource)
    }

    /// The built-in types a test server serves by default.
    public static let builtIn: [TestResource] = [
        TestResource(Namespace.self), TestResource(ConfigMap.self, statusSubresource: false),
        TestResource(Secret.self, statusSubresource: false), TestResource(Pod.self), TestResource(Node.self),
        TestResource(Event.self, statusSubresource: false), TestResource(Lease.self, statusSubresource: false),
    ] + RBACResources.all
}

/// What a watch stream carries from the store to the HTTP writer.
enum WatchMessage: Sendable {
    case event(type: String, object: JSONValue)
    case bookmark(resourceVersion: String)
    case error(Status)
    /// End the stream: cleanly (terminating chunk) or by dropping the connection.
    case close(abrupt: Bool)
}

/// The in-memory state of the test API server: objects, a global resourceVersion counter,
/// a bounded event history for watches, field ownership for server-side apply, and open watchers.
final class ObjectStore: Sendable {
    struct Key: Hashable, Comparable {
        var resource: String
        var namespace: String
        var name: String

        static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.namespace, lhs.name) < (rhs.namespace, rhs.name)
        }
    }

    struct HistoryEntry {
        var version: Int64
        var key: Key
        var type: String
        var object: JSONValue
        var old: JSONValue?
    }

    struct Watcher {
        var resource: String
        var namespace: String?
        var labels: Selector
        var fields: Selector
        var continuation: AsyncStream<WatchMessage>.Continuation
    }

    struct State {
        var resources: [String: TestResource] = [:]
        var version: Int64 = 0
        var objects: [Key: JSONValue] = [:]
        var history: [HistoryEntry] = []
        var historyStart = 0
        /// Watches from a version below this are answered with `410 Expired`.
        var earliestWatchable: Int64 = 0
        var owners: [Key: [String: Set<[String]>]] = [:]
        var watchers: [UInt64: Watcher] = [:]
        var nextWatcherID: UInt64 = 0
    }

    let state = Mutex(State())
    let historyLimit: Int

    init(resources: [TestResource], historyLimit: Int) {
        self.historyLimit = historyLimit
        state.withLock { state in
            for resource in resources { state.resources[resource.gvr.qualifiedResource] = resource }
        }
    }

    // MARK: Reads

    func get(_ resource: TestResource, namespace: String?, name: String) throws(APIFailure) -> JSONValue {
        let key = Key(resource: resource.gvr.qualifiedResource, namespace: namespace ?? "", name: name)
        guard let object = state.withLock({ $0.objects[key] }) else { throw .notFound(resource.gvr, name) }
        return object
    }

    struct ListResult {
        var items: [JSONValue]
        var version: Int64
        var continueToken: String?
        var remaining: Int?
    }

    func list(_ resource: TestResource, namespace: String?, labels: Selector, fields: Selector, limit: Int?, continueToken: String?) throws(APIFailure) -> ListResult {
        var start: Key?
        if let continueToken, !continueToken.isEmpty {
            guard let decoded = Data(base64Encoded: continueToken).flatMap({ try? JSONDecoder().decode([String].self, from: $0) }),
                decoded.count == 3, let tokenVersion = Int64(decoded[0])
            else { throw .badRequest("invalid continue token") }
            let earliest = state.withLock { $0.earliestWatchable }
            if tokenVersion < earliest {
                throw .gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
            }
            start = Key(resource: resource.gvr.qualifiedResource, namespace: decoded[1], name: decoded[2])
        }
        return state.withLock { state in
            let matching = state.objects
                .filter { key, object in
                    key.resource == resource.gvr.qualifiedResource && (namespace == nil || key.namespace == namespace)
                        && (start.map { key > $0 } ?? true) && Self.matches(object, labels: labels, fields: fields)
                }
                .sorted { $0.key < $1.key }
            var items = matching
            var token: String?
            var remaining: Int?
            if let limit, limit > 0, matching.count > limit {
                items = Array(matching.prefix(limit))
                let last = items[items.count - 1].key
                let payload = try? JSONEncoder().encode([String(state.version), last.namespace, last.name])
                token = payload.map { $0.base64EncodedString() }
                remaining = matching.count - limit
            }
            return ListResult(items: items.map(\.value), version: state.version, continueToken: token, remaining: remaining)
        }
    }

    func allObjects(_ resource: String) -> [JSONValue] {
        state.withLock { state in
            state.objects.filter { $0.key.resource == resource }.sorted { $0.key < $1.key }.map(\.value)
        }
    }

    var currentVersion: Int64 { state.withLock { $0.version } }

    // MARK: Writes

    /// Creates an object; with `dryRun` everything is checked and the object returned as it
    /// would be stored, but nothing is stored or announced (`?dryRun=All`).
    func create(_ resource: TestResource, namespace: String?, body: JSONValue, manager: String?, dryRun: Bool = false) throws(APIFailure) -> JSONValue {
        try state.withLock { (state: inout State) throws(APIFailure) -> JSONValue in
            if dryRun {
                var scratch = state
                scratch.watchers = [:]
                return try Self.create(&scratch, resource, namespace: namespace, body: body, manager: manager, owned: nil, historyLimit: historyLimit)
            }
            return try Self.create(&state, resource, namespace: namespace, body: body, manager: manager, owned: nil, historyLimit: historyLimit)
        }
    }

    private static func create(_ state: inout State, _ resource: TestResource, namespace: String?, body: JSONValue, manager: String?, owned: Set<[String]>?, historyLimit: Int) throws(APIFailure) -> JSONValue {
        let gvr = resource.gvr
        guard body.objectValue != nil else { throw .badRequest("the body of the request was not a JSON object") }
        var object = body
        try checkTypeMeta(&object, gvr)
        let namespace = gvr.namespaced ? (namespace ?? "") : ""
        if gvr.namespaced {
            if let bodyNamespace = object[path: ["metadata", "namespace"]]?.stringValue, !bodyNamespace.isEmpty, bodyNamespace != namespace {
                throw .badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            guard !namespace.isEmpty else { throw .badRequest("a namespace is required to create \(gvr.qualifiedResource)") }
            object[path: ["metadata", "namespace"]] = .string(namespace)
        } else {
            object[path: ["metadata", "namespace"]] = nil
        }
        var name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        if name.isEmpty {
            guard let prefix = object[path: ["metadata", "generateName"]]?.stringValue, !prefix.isEmpty else {
                throw .invalid(gvr, "", field: "metadata.name", cause: "FieldValueRequired", why: "Required value: name or generateName is required")
            }
            let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
            repeat {
                name = prefix + String((0..<5).map { _ in alphabet.randomElement()! })
            } while state.objects[Key(resource: gvr.qualifiedResource, namespace: namespace, name: name)] != nil
        }
        try validateName(name, gvr)
        let key = Key(resource: gvr.qualifiedResource, namespace: namespace, name: name)
        guard state.objects[key] == nil else { throw .alreadyExists(gvr, name) }
        state.version += 1
        object[path: ["metadata", "name"]] = .string(name)
        object[path: ["metadata", "uid"]] = .string(UUID().uuidString.lowercased())
        object[path: ["metadata", "creationTimestamp"]] = .string(KubeTime.format(Date()))
        object[path: ["metadata", "resourceVersion"]] = .string(String(state.version))
        object[path: ["metadata", "generation"]] = .int(1)
        object[path: ["metadata", "deletionTimestamp"]] = nil
        object[path: ["metadata", "managedFields"]] = nil
        if resource.statusSubresource { object["status"] = nil }
        if let owned, let manager {
            state.owners[key] = [manager: owned]
        }
        object = withManagedFields(object, owners: state.owners[key])
        state.objects[key] = object
        record(&state, key: key, type: "ADDED", object: object, old: nil, historyLimit: historyLimit)
        return object
    }

    /// Which part of an object a write replaces.
    enum Target {
        /// Everything but status (status kept when the resource has a status subresource).
        case main
        /// Only status.
        case status
    }

    /// Replaces an object (PUT), or applies a change function (PATCH) to the live object.
    func update(
        _ resource: TestResource, namespace: String?, name: String, target: Target, manager: String?,
        change: (JSONValue) throws(APIFailure) -> JSONValue
    ) throws(APIFailure) -> JSONValue {
        try state.withLock { (state: inout State) throws(APIFailure) -> JSONValue in
            let key = Key(resource: resource.gvr.qualifiedResource, namespace: resource.gvr.namespaced ? (namespace ?? "") : "", name: name)
            guard let live = state.objects[key] else { throw .notFound(resource.gvr, name) }
            var proposed = try change(live)
            try Self.checkTypeMeta(&proposed, resource.gvr)
            if let bodyName = proposed[path: ["metadata", "name"]]?.stringValue, bodyName != name {
                throw .badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
            }
            if let requested = proposed[path: ["metadata", "resourceVersion"]]?.stringValue, !requested.isEmpty,
                requested != live[path: ["metadata", "resourceVersion"]]?.stringValue
            {
                throw .conflict(resource.gvr, name)
            }
            var next: JSONValue
            switch target {
            case .main:
                next = proposed
                if resource.statusSubresource { next["status"] = live["status"] }
            case .status:
                next = live
                next["status"] = proposed["status"]
            }
            return try Self.commit(&state, resource, key: key, live: live, next: next, manager: manager, historyLimit: historyLimit)
        }
    }

    /// Server-side apply of `applied` by `manager`.
    func apply(_ resource: TestResource, namespace: String?, name: String, applied: JSONValue, manager: String, force: Bool, target: Target) throws(APIFailure) -> JSONValue {
        try state.withLock { (state: inout State) throws(APIFailure) -> JSONValue in
            var applied = applied
            try Self.checkTypeMeta(&applied, resource.gvr)
            if let bodyName = applied[path: ["metadata", "name"]]?.stringValue, bodyName != name {
                throw .badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
            }
            applied[path: ["metadata", "name"]] = .string(name)
            let namespace = resource.gvr.namespaced ? (namespace ?? "") : ""
            let key = Key(resource: resource.gvr.qualifiedResource, namespace: namespace, name: name)
            let paths = FieldPaths.leaves(of: applied)
            guard let live = state.objects[key] else {
                return try Self.create(&state, resource, namespace: namespace, body: applied, manager: manager, owned: paths, historyLimit: historyLimit)
            }
            var owners = state.owners[key] ?? [:]
            var conflicts: [(String, [String])] = []
            for (other, owned) in owners where other != manager {
                for path in paths where owned.contains(where: { FieldPaths.overlap($0, path) }) && live[path: path] != applied[path: path] {
                    conflicts.append((other, path))
                }
            }
            if !conflicts.isEmpty {
                if !force {
                    let causes = conflicts.map { StatusCause(reason: "FieldManagerConflict", message: "conflict with \"\($0.0)\"", field: "." + $0.1.joined(separator: ".")) }
                    let text = causes.map { "\($0.message ?? ""): \($0.field ?? "")" }.joined(separator: ", ")
                    throw APIFailure(code: 409, reason: "Conflict", message: "Apply failed with \(conflicts.count) conflict(s): \(text)",
                        details: StatusDetails(name: name, group: resource.gvr.group, kind: resource.gvr.resource, causes: causes))
                }
                for (other, path) in conflicts {
                    owners[other] = owners[other]?.filter { !FieldPaths.overlap($0, path) }
                }
            }
            let ownedByOthers = owners.filter { $0.key != manager }.values.reduce(into: Set<[String]>()) { $0.formUnion($1) }
            var next = live
            for path in (owners[manager] ?? []).subtracting(paths) where !ownedByOthers.contains(path) {
                next[path: path] = nil
            }
            for path in paths { next[path: path] = applied[path: path] }
            owners[manager] = paths
            state.owners[key] = owners.filter { !$0.value.isEmpty }
            if target == .status || resource.statusSubresource {
                // The main endpoint keeps status; the status endpoint keeps everything else.
                if target == .status {
                    var statusOnly = live
                    statusOnly["status"] = next["status"]
                    next = statusOnly
                } else {
                    next["status"] = live["status"]
                }
            }
            return try Self.commit(&state, resource, key: key, live: live, next: next, manager: nil, historyLimit: historyLimit)
        }
    }

    /// Deletes an object: marks it when finalizers remain, removes it otherwise.
    func delete(_ resource: TestResource, namespace: String?, name: String, preconditions: JSONValue?, propagation: String?) throws(APIFailure) -> JSONValue {
        try state.withLock { (state: inout State) throws(APIFailure) -> JSONValue in
            let key = Key(resource: resource.gvr.qualifiedResource, namespace: resource.gvr.namespaced ? (namespace ?? "") : "", name: name)
            guard let live = state.objects[key] else { throw .notFound(resource.gvr, name) }
            if let uid = preconditions?["uid"]?.stringValue, uid != live[path: ["metadata", "uid"]]?.stringValue {
                throw .conflict(resource.gvr, name, "Precondition failed: UID in precondition: \(uid), UID in object meta: \(live[path: ["metadata", "uid"]]?.stringValue ?? "")")
            }
            if let version = preconditions?["resourceVersion"]?.stringValue, version != live[path: ["metadata", "resourceVersion"]]?.stringValue {
                throw .conflict(resource.gvr, name, "Precondition failed: ResourceVersion in precondition: \(version), ResourceVersion in object meta: \(live[path: ["metadata", "resourceVersion"]]?.stringValue ?? "")")
            }
            return Self.delete(&state, key: key, propagation: propagation ?? "Background", historyLimit: historyLimit)
        }
    }

    private static func delete(_ state: inout State, key: Key, propagation: String, historyLimit: Int) -> JSONValue {
        guard var object = state.objects[key] else { return .null }
        let finalizers = object[path: ["metadata", "finalizers"]]?.arrayValue ?? []
        if !finalizers.isEmpty {
            guard object[path: ["metadata", "deletionTimestamp"]] == nil else { return object }
            let old = object
            state.version += 1
            object[path: ["metadata", "deletionTimestamp"]] = .string(KubeTime.format(Date()))
            object[path: ["metadata", "deletionGracePeriodSeconds"]] = .int(0)
            object[path: ["metadata", "resourceVersion"]] = .string(String(state.version))
            state.objects[key] = object
            record(&state, key: key, type: "MODIFIED", object: object, old: old, historyLimit: historyLimit)
            return object
        }
        return remove(&state, key: key, propagation: propagation, historyLimit: historyLimit)
    }

    private static func remove(_ state: inout State, key: Key, propagation: String, historyLimit: Int) -> JSONValue {
        guard var object = state.objects.removeValue(forKey: key) else { return .null }
        state.owners.removeValue(forKey: key)
        state.version += 1
        object[path: ["metadata", "resourceVersion"]] = .string(String(state.version))
        record(&state, key: key, type: "DELETED", object: object, old: nil, historyLimit: historyLimit)
        // Garbage collection of dependents, as the controller-manager would do.
        guard let uid = object[path: ["metadata", "uid"]]?.stringValue else { return object }
        let dependents = state.objects.filter { _, candidate in
            (candidate[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).contains { $0["uid"]?.stringValue == uid }
        }
        for (dependentKey, dependent) in dependents.sorted(by: { $0.key < $1.key }) {
            if propagation == "Orphan" {
                var orphan = dependent
                let remaining = (dependent[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).filter { $0["uid"]?.stringValue != uid }
                orphan[path: ["metadata", "ownerReferences"]] = remaining.isEmpty ? nil : .array(remaining)
                state.version += 1
                orphan[path: ["metadata", "resourceVersion"]] = .string(String(state.version))
                state.objects[dependentKey] = orphan
                record(&state, key: dependentKey, type: "MODIFIED", object: orphan, old: dependent, historyLimit: historyLimit)
            } else {
                _ = delete(&state, key: dependentKey, propagation: propagation, historyLimit: historyLimit)
            }
        }
        return object
    }

    /// Stores `next` as the new state of `key`: immutable metadata kept, generation bumped on
    /// spec changes, no-op writes skipped, and removal once a terminating object has no finalizers.
    private static func commit(_ state: inout State, _ resource: TestResource, key: Key, live: JSONValue, next: JSONValue, manager: String?, historyLimit: Int) throws(APIFailure) -> JSONValue {
        var next = next
        for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "namespace", "name"] {
            next[path: ["metadata", field]] = live[path: ["metadata", field]]
        }
        next[path: ["metadata", "resourceVersion"]] = live[path: ["metadata", "resourceVersion"]]
        next[path: ["metadata", "managedFields"]] = live[path: ["metadata", "managedFields"]]
        if live[path: ["metadata", "deletionTimestamp"]] != nil {
            let before = Set((live[path: ["metadata", "finalizers"]]?.arrayValue ?? []).compactMap(\.stringValue))
            let after = Set((next[path: ["metadata", "finalizers"]]?.arrayValue ?? []).compactMap(\.stringValue))
            if !after.subtracting(before).isEmpty {
                throw .invalid(resource.gvr, key.name, field: "metadata.finalizers", cause: "FieldValueForbidden", why: "Forbidden: no new finalizers can be added if the object is being deleted")
            }
        }
        if next == live { return live }
        if let manager {
            var owners = state.owners[key] ?? [:]
            if !owners.isEmpty {
                let changed = FieldPaths.changed(from: live, to: next)
                for other in owners.keys where other != manager {
                    owners[other] = owners[other]?.filter { path in !changed.contains { FieldPaths.overlap($0, path) } }
                }
                owners[manager, default: []].formUnion(changed.filter { next[path: $0] != nil })
                state.owners[key] = owners.filter { !$0.value.isEmpty }
            }
        }
        if specPart(next) != specPart(live) {
            next[path: ["metadata", "generation"]] = .int((live[path: ["metadata", "generation"]]?.intValue ?? 0) + 1)
        }
        next = withManagedFields(next, owners: state.owners[key])
        state.version += 1
        next[path: ["metadata", "resourceVersion"]] = .string(String(state.version))
        state.objects[key] = next
        record(&state, key: key, type: "MODIFIED", object: next, old: live, historyLimit: historyLimit)
        if next[path: ["metadata", "deletionTimestamp"]] != nil, (next[path: ["metadata", "finalizers"]]?.arrayValue ?? []).isEmpty {
            return remove(&state, key: key, propagation: "Background", historyLimit: historyLimit)
        }
        return next
    }

    private static func specPart(_ object: JSONValue) -> JSONValue {
        var copy = object
        copy["metadata"] = nil
        copy["status"] = nil
        return copy
    }

    private static func withManagedFields(_ object: JSONValue, owners: [String: Set<[String]>]?) -> JSONValue {
        guard let owners, !owners.isEmpty else { return object }
        var object = object
        let entries: [JSONValue] = owners.keys.sorted().map { manager in
            [
                "manager": .string(manager), "operation": "Apply", "fieldsType": "FieldsV1",
                "apiVersion": object["apiVersion"] ?? .null, "fieldsV1": FieldPaths.fieldsV1(owners[manager] ?? []),
            ]
        }
        object[path: ["metadata", "managedFields"]] = .array(entries)
        return object
    }

    private static func checkTypeMeta(_ object: inout JSONValue, _ gvr: GroupVersionResource) throws(APIFailure) {
        if let apiVersion = object["apiVersion"]?.stringValue, !apiVersion.isEmpty, apiVersion != gvr.apiVersion {
            throw .badRequest("the API version in the data (\(apiVersion)) does not match the expected API version (\(gvr.apiVersion))")
        }
        if let kind = object["kind"]?.stringValue, !kind.isEmpty, kind != gvr.kind {
            throw .badRequest("the kind in the data (\(kind)) does not match the expected kind (\(gvr.kind))")
        }
        object["apiVersion"] = .string(gvr.apiVersion)
        object["kind"] = .string(gvr.kind)
    }

    /// DNS-1123 subdomain: what kube-apiserver requires of most object names.
    private static func validateName(_ name: String, _ gvr: GroupVersionResource) throws(APIFailure) {
        let allowed = name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }
        let edges = name.first.map { $0.isLetter || $0.isNumber } == true && name.last.map { $0.isLetter || $0.isNumber } == true
        guard allowed, edges, name.count <= 253 else {
            throw .invalid(gvr, name, field: "metadata.name", cause: "FieldValueInvalid",
                why: "Invalid value: \"\(name)\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")
        }
    }

    // MARK: Watch

    enum WatchStart {
        case stream(id: UInt64, AsyncStream<WatchMessage>)
        case expired(Status)
    }

    func watch(_ resource: TestResource, namespace: String?, labels: Selector, fields: Selector, from version: String?) -> WatchStart {
        let (stream, continuation) = AsyncStream<WatchMessage>.makeStream(bufferingPolicy: .bufferingOldest(100_000))
        return state.withLock { state in
            let qualified = resource.gvr.qualifiedResource
            let watcher = Watcher(resource: qualified, namespace: namespace, labels: labels, fields: fields, continuation: continuation)
            if let version, !version.isEmpty, version != "0" {
                guard let from = Int64(version) else {
                    return .expired(Status(status: "Failure", message: "invalid resource version \"\(version)\"", reason: "BadRequest", code: 400))
                }
                if from < state.earliestWatchable {
                    return .expired(Status(status: "Failure", message: "too old resource version: \(from) (\(state.earliestWatchable))", reason: "Expired", code: 410))
                }
                for entry in state.history[state.historyStart...] where entry.version > from {
                    Self.send(entry, to: watcher)
                }
            } else {
                for (key, object) in state.objects.sorted(by: { $0.key < $1.key }) where key.resource == qualified && (namespace == nil || key.namespace == namespace) {
                    if Self.matches(object, labels: labels, fields: fields) {
                        continuation.yield(.event(type: "ADDED", object: object))
                    }
                }
            }
            state.nextWatcherID += 1
            state.watchers[state.nextWatcherID] = watcher
            return .stream(id: state.nextWatcherID, stream)
        }
    }

    func stopWatch(_ id: UInt64) {
        state.withLock { _ = $0.watchers.removeValue(forKey: id) }
    }

    /// Sends a message to every open watch.
    func broadcast(_ message: (Int64) -> WatchMessage) {
        state.withLock { state in
            for watcher in state.watchers.values { watcher.continuation.yield(message(state.version)) }
        }
    }

    /// Forgets all history: watches from any version seen so far get `410 Expired`.
    func compact() {
        state.withLock { state in
            state.history.removeAll()
            state.historyStart = 0
            state.earliestWatchable = state.version
        }
    }

    private static func record(_ state: inout State, key: Key, type: String, object: JSONValue, old: JSONValue?, historyLimit: Int) {
        let entry = HistoryEntry(version: state.version, key: key, type: type, object: object, old: old)
        state.history.append(entry)
        if state.history.count - state.historyStart > historyLimit {
            state.earliestWatchable = state.history[state.historyStart].version
            state.historyStart += 1
            if state.historyStart > 4096 {
                state.history.removeFirst(state.historyStart)
                state.historyStart = 0
            }
        }
        for watcher in state.watchers.values { send(entry, to: watcher) }
    }

    /// Delivers one change to a watcher, translated by its selectors as kube-apiserver does:
    /// an object that starts matching arrives as ADDED, one that stops matching as DELETED.
    private static func send(_ entry: HistoryEntry, to watcher: Watcher) {
        guard entry.key.resource == watcher.resource, watcher.namespace == nil || watcher.namespace == entry.key.namespace else { return }
        let nowMatches = matches(entry.object, labels: watcher.labels, fields: watcher.fields)
        let wasMatching = entry.old.map { matches($0, labels: watcher.labels, fields: watcher.fields) } ?? false
        switch (entry.type, wasMatching, nowMatches) {
        case ("MODIFIED", true, true): watcher.continuation.yield(.event(type: "MODIFIED", object: entry.object))
        case ("MODIFIED", false, true): watcher.continuation.yield(.event(type: "ADDED", object: entry.object))
        case ("MODIFIED", true, false): watcher.continuation.yield(.event(type: "DELETED", object: entry.object))
        case ("ADDED", _, true), ("DELETED", _, true): watcher.continuation.yield(.event(type: entry.type, object: entry.object))
        default: break
        }
    }

    static func matches(_ object: JSONValue, labels: Selector, fields: Selector) -> Bool {
        if !labels.requirements.isEmpty {
            let values = (object[path: ["metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
            if !labels.matches(values) { return false }
        }
        if !fields.requirements.isEmpty {
            var values: [String: String] = [:]
            for key in fields.keys {
                switch object[path: key.split(separator: ".").map(String.init)] {
                case .string(let text)?: values[key] = text
                case .int(let number)?: values[key] = String(number)
                case .bool(let flag)?: values[key] = String(flag)
                default: break
                }
            }
            if !fields.matches(values) { return false }
        }
        return true
    }
}

/// Leaf field paths of objects, for server-side apply ownership. Arrays are atomic leaves.
enum FieldPaths {
    static let ignored: Set<[String]> = [
        ["apiVersion"], ["kind"], ["metadata", "name"], ["metadata", "namespace"], ["metadata", "resourceVersion"],
        ["metadata", "uid"], ["metadata", "managedFields"], ["metadata", "creationTimestamp"], ["metadata", "generation"],
    ]

    static func leaves(of value: JSONValue, prefix: [String] = []) -> Set<[String]> {
        guard case .object(let members) = value, !members.isEmpty || prefix.isEmpty else {
            return ignored.contains(prefix) ? [] : [prefix]
        }
        if ignored.contains(prefix) { return [] }
        var result = Set<[String]>()
        for (key, child) in members { result.formUnion(leaves(of: child, prefix: prefix + [key])) }
        return result
    }

    static func overlap(_ a: [String], _ b: [String]) -> Bool {
        a.starts(with: b) || b.starts(with: a)
    }

    static func changed(from old: JSONValue, to new: JSONValue) -> Set<[String]> {
        leaves(of: old).union(leaves(of: new)).filter { old[path: $0] != new[path: $0] }
    }

    static func fieldsV1(_ paths: Set<[String]>) -> JSONValue {
        var root = JSONValue.object([:])
        for path in paths {
            root[path: path.map { "f:" + $0 }] = .object([:])
        }
        return root
    }
}
