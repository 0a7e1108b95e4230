import KubeModels
import Logging

/// What a reconcile asks for once it has finished without error.
public enum ReconcileResult: Sendable, Hashable {
    /// The object is in its desired state; forget its backoff.
    case done
    /// Run again soon, with rate-limited backoff.
    case requeue
    /// Run again after a fixed delay (backoff is forgotten first).
    case requeueAfter(Duration)
}

/// Level-based reconciliation of one object, identified only by its key. It must be
/// idempotent: it reads the current state and makes the world match the desired one.
/// A thrown error is logged with the key and the key is retried with backoff, unless the
/// error is a ``TerminalError``.
public protocol Reconciler: Sendable {
    func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult
}

/// An error that retrying cannot fix (e.g. invalid user input already reported in status);
/// the key is not requeued.
public struct TerminalError: Error, CustomStringConvertible {
    public var underlying: any Error

    public init(_ underlying: any Error) {
        self.underlying = underlying
    }

    public var description: String { "terminal: \(underlying)" }
}
