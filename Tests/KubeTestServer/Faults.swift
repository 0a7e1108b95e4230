import Synchronization

/// Faults a test can inject into the test API server.
public final class FaultInjector: Sendable {
    /// What happens to a matching request.
    public enum Fault: Sendable, Hashable {
        /// Answer with this HTTP code (429 or 5xx) and a `Status` body, with `Retry-After` when given.
        case status(code: Int, retryAfterSeconds: Int? = nil)
        /// Wait before handling the request.
        case delay(Duration)
        /// Send the response head and half of the body, then close the connection.
        case dropConnectionMidBody
    }

    struct Rule {
        var fault: Fault
        var method: String?
        var pathContains: String?
        var remaining: Int
    }

    private let rules = Mutex<[Rule]>([])

    /// Applies `fault` to the next `times` requests matching `method` (any when nil) and whose
    /// path contains `pathContains` (any when nil).
    public func inject(_ fault: Fault, method: String? = nil, pathContains: String? = nil, times: Int = 1) {
        rules.withLock { $0.append(Rule(fault: fault, method: method, pathContains: pathContains, remaining: times)) }
    }

    /// Removes all pending faults.
    public func clear() {
        rules.withLock { $0.removeAll() }
    }

    /// The faults for one request, consuming one use of each matching rule. A watch request
    /// matches the method `WATCH`, any other request its HTTP method.
    func take(method: String, path: String, isWatch: Bool) -> [Fault] {
        let actual = isWatch ? "WATCH" : method
        return rules.withLock { rules in
            var faults: [Fault] = []
            for index in rules.indices {
                let rule = rules[index]
                if let expected = rule.method, expected != actual { continue }
                if let fragment = rule.pathContains, !path.contains(fragment) { continue }
                rules[index].remaining -= 1
                faults.append(rule.fault)
            }
            rules.removeAll { $0.remaining <= 0 }
            return faults
        }
    }
}
