import AsyncHTTPClient
import KubeModels
import NIOCore

/// The events of one watch request, decoded as they arrive.
///
/// Lines are split by NIO's `splitLines` with a bounded buffer, so a single event larger than
/// `maximumEventSize` fails the stream with ``KubeClientError/Code/watchEventTooLarge`` instead
/// of growing memory without limit. The sequence ends when the server closes the stream
/// (e.g. after `timeoutSeconds`); cancel the consuming task to stop it early.
public struct WatchStream<Object: Decodable & Sendable>: AsyncSequence, Sendable {
    public typealias Element = WatchEvent<Object>
    typealias Lines = NIODecodedAsyncSequence<HTTPClientResponse.Body, NIOSplitLinesMessageDecoder>

    let body: HTTPClientResponse.Body
    let maximumEventSize: Int
    let request: RequestDescription

    init(body: HTTPClientResponse.Body, maximumEventSize: Int, request: RequestDescription) {
        self.body = body
        self.maximumEventSize = maximumEventSize
        self.request = request
    }

    public func makeAsyncIterator() -> AsyncIterator {
        let lines = body.splitLines(omittingEmptySubsequences: true, maximumBufferSize: maximumEventSize)
        return AsyncIterator(lines: lines.makeAsyncIterator(), request: request)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var lines: Lines.AsyncIterator
        let request: RequestDescription
        let decoder = WatchEventDecoder<Object>()

        public mutating func next() async throws -> WatchEvent<Object>? {
            let line: ByteBuffer?
            do {
                line = try await lines.next()
            } catch let error as ByteToMessageDecoderError.PayloadTooLargeError {
                throw KubeClientError(.watchEventTooLarge, "a watch event exceeded the buffer limit", request: request, cause: error)
            } catch is CancellationError {
                return nil
            } catch {
                throw KubeClientError(.transport, "watch stream failed", request: request, cause: error)
            }
            guard let line else { return nil }
            do {
                return try decoder.decode(line)
            } catch {
                var error = error
                error.request = request
                throw error
            }
        }
    }
}
