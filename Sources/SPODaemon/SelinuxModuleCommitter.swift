import SelinuxNode

/// The node's SELinux modules as the reconcilers see them: what is installed (read from the
/// policy store once, then kept current, since every change goes through here), what is
/// waiting for a commit, and what failed.
///
/// A commit rebuilds the whole policy (seconds), so reconcilers do not wait for one: they
/// submit a change and are called back when it was committed. The changes submitted while a
/// commit runs are committed together in the next one. When a batch fails, it is split until
/// the broken modules fail alone and the others land.
public actor SelinuxModuleCommitter {
    /// What is known about one module.
    struct Module: Sendable {
        /// The CIL it is installed from; nil when it is not installed.
        var installed: String?
        /// A change waiting for or in a commit: the CIL to install, or nil to remove.
        var queued: String??
        /// The last change that failed, with the store's reason; cleared by the next success.
        var failed: (cil: String?, error: SelinuxStoreError)?
        /// Whether the last commit of the module succeeded and nobody reported it yet.
        var fresh: Bool
    }

    private typealias Change = (module: String, cil: String?, done: @Sendable () -> Void)

    let modules: any SelinuxModules
    private var installed: [String: String]?
    private var loading: Task<Result<[String: String], SelinuxStoreError>, Never>?
    private var queue: [Change] = []
    private var queued: [String: String?] = [:]
    private var failures: [String: (cil: String?, error: SelinuxStoreError)] = [:]
    private var fresh: Set<String> = []
    private var committing = false

    public init(modules: any SelinuxModules) {
        self.modules = modules
    }

    /// What is known about `module`, after reading the store the first time.
    func module(_ module: String) async -> Result<Module, SelinuxStoreError> {
        await load().map { installed in
            Module(installed: installed[module], queued: queued[module], failed: failures[module], fresh: fresh.contains(module))
        }
    }

    /// Forgets that `module`'s last commit is news (its event and counter were sent).
    func reported(_ module: String) { fresh.remove(module) }

    /// Forgets `module`'s last failure, so that the same change may be submitted again.
    func forgetFailure(_ module: String) { failures[module] = nil }

    /// Installs (or upgrades) `module`, or removes it when `cil` is nil, in the next commit;
    /// `done` is called once that commit finished, successfully or not.
    func submit(_ module: String, cil: String?, done: @escaping @Sendable () -> Void) {
        queue.append((module, cil, done))
        queued[module] = .some(cil)
        if !committing {
            committing = true
            Task { await drain() }
        }
    }

    private func load() async -> Result<[String: String], SelinuxStoreError> {
        if let installed { return .success(installed) }
        let task = loading ?? Task { [modules] in
            do {
                return .success(try await modules.sources())
            } catch let error as SelinuxStoreError {
                return .failure(error)
            } catch {
                return .failure(SelinuxStoreError(operation: "reading the installed modules", message: "\(error)"))
            }
        }
        loading = task
        let result = await task.value
        loading = nil
        if case .success(let sources) = result, installed == nil { installed = sources }
        return result
    }

    private func drain() async {
        while !queue.isEmpty {
            // The last change of a module wins.
            var latest: [String: Change] = [:]
            for change in queue { latest[change.module] = change }
            let batch = latest.values.sorted { $0.module < $1.module }
            let callbacks = queue.map(\.done)
            queue = []
            if case .failure(let error) = await load() {
                for change in batch { finish(change, error) }
            } else {
                await land(batch[...])
            }
            for done in callbacks { done() }
        }
        committing = false
    }

    /// Commits `changes` together; when that fails, each half on its own, down to the
    /// changes that fail alone (one broken module among n costs about 2·log2(n) commits).
    private func land(_ changes: ArraySlice<Change>) async {
        guard let error = await commit(changes) else {
            for change in changes { finish(change, nil) }
            return
        }
        guard changes.count > 1 else {
            for change in changes { finish(change, error) }
            return
        }
        let middle = changes.startIndex + changes.count / 2
        await land(changes[..<middle])
        await land(changes[middle...])
    }

    /// Records the end of `change`: installed or removed, or failed with `error`.
    private func finish(_ change: Change, _ error: SelinuxStoreError?) {
        // A newer change of the module, submitted during the commit, stays queued.
        if queue.contains(where: { $0.module == change.module }) == false { queued[change.module] = nil }
        if let error {
            failures[change.module] = (change.cil, error)
            fresh.remove(change.module)
        } else {
            failures[change.module] = nil
            fresh.insert(change.module)
        }
    }

    /// Commits `changes` in one transaction; nil on success.
    private func commit(_ changes: ArraySlice<Change>) async -> SelinuxStoreError? {
        var install: [String: String] = [:]
        var remove: [String] = []
        for change in changes {
            if let cil = change.cil { install[change.module] = cil } else if installed?[change.module] != nil { remove.append(change.module) }
        }
        if install.isEmpty, remove.isEmpty { return nil }
        do {
            try await modules.apply(SelinuxModuleChange(install: install, remove: remove))
        } catch {
            return error
        }
        for change in changes { installed?[change.module] = change.cil }
        return nil
    }
}
