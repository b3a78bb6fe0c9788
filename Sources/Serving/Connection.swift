// The connection under the routes: HTTP/1.1 on SwiftNIO through Hummingbird's HTTP1Channel, with two
// handlers of our own in its pipeline.
//
//   socket ─ RequestStart (raw bytes) ─ HTTP/1.1 codec ─ ConnectionGuard (request and response parts) ─ Hummingbird
//
// The guard gives each connection
//  - an idle timeout: a keep-alive connection with no request in progress is closed after IDLE_TIMEOUT;
//  - a request-read timeout: once a request's first byte arrives, its head and body must be complete
//    within HEADER_TIMEOUT (a client dribbling headers — slowloris — is cut off, not waited for);
//  - and `ConnectionState`: whether the client has gone. A handler watches that to cancel a generation
//    nobody will read, without reading the connection's inbound stream itself — which is what lets
//    pipelined requests and many POSTs on one keep-alive connection be answered, in order.
// While a request is being answered no timer runs: REQUEST_TIMEOUT bounds the work.
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Under overload the HTTP work (parsing, refusing, logging) and the model compete for the same cores, and
/// the model must win: answering thousands of refusals a second from clients that retry at once (ignoring
/// Retry-After) would otherwise take the CPU the batch needs, and goodput falls. So the threads that do
/// HTTP work — NIO's event loops and the concurrency pool's — lower their own priority (nice +10; on Linux
/// a thread's nice value is its own). The engine's worker and the compute pool were started, at load, by
/// threads that had not lowered theirs, and keep the normal priority.
enum HTTPThreads {
    static let nice: Int32 = 10
    static func yieldToCompute() {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)   // 0: the calling thread (Linux/NPTL)
        #endif
    }
}

/// Whether a connection's client has gone (closed or half-closed its side, or reset it). Thread-safe.
public final class ConnectionState: @unchecked Sendable {
    private let lock = NSLock()
    private var closed = false
    private var waiters: [Int: @Sendable () -> Void] = [:]
    private var nextToken = 0

    public init() {}

    /// A connection already gone.
    static var closed: ConnectionState { let s = ConnectionState(); s.markClosed(); return s }

    /// Runs `body` once when the client goes (at once if it has). Returns a token for `cancel`.
    func onClose(_ body: @escaping @Sendable () -> Void) -> Int? {
        lock.lock()
        if closed { lock.unlock(); body(); return nil }
        let token = nextToken
        nextToken += 1
        waiters[token] = body
        lock.unlock()
        return token
    }

    func cancel(_ token: Int?) {
        guard let token else { return }
        lock.lock(); waiters[token] = nil; lock.unlock()
    }

    func markClosed() {
        lock.lock()
        if closed { lock.unlock(); return }
        closed = true
        let run = Array(waiters.values)
        waiters.removeAll()
        lock.unlock()
        for w in run { w() }
    }
}

/// The open connections of one server, by channel, so that a request's handler finds its own.
public final class Connections: @unchecked Sendable {
    private let lock = NSLock()
    private var states: [ObjectIdentifier: ConnectionState] = [:]
    /// Whether a guarded server registers here (the in-process test client does not).
    private var guarded = false
    public init() {}
    func add(_ id: ObjectIdentifier, _ s: ConnectionState) { lock.lock(); states[id] = s; guarded = true; lock.unlock() }
    func remove(_ id: ObjectIdentifier) { lock.lock(); states[id] = nil; lock.unlock() }
    /// The state of a request's connection. On a guarded server a connection that is no longer registered
    /// has closed (its requests may still be buffered): that is reported as a closed state, so their work
    /// is cancelled at once rather than run for nobody. nil: not a guarded connection (test client).
    public subscript(_ id: ObjectIdentifier?) -> ConnectionState? {
        guard let id else { return nil }
        lock.lock(); defer { lock.unlock() }
        if let s = states[id] { return s }
        return guarded ? ConnectionState.closed : nil
    }
}

/// Idle and request-read timeouts, and the client-gone signal (see the file's header).
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let state = ConnectionState()
    let connections: Connections
    let idleTimeout: TimeAmount
    let readTimeout: TimeAmount
    /// Requests whose head has been read and whose response has not ended (more than one when pipelined).
    private var pending = 0
    /// Between a request's first byte and the end of its body.
    private var reading = false
    private var timer: Scheduled<Void>?
    private var channelID: ObjectIdentifier?

    init(connections: Connections, idleTimeout: Double, readTimeout: Double) {
        self.connections = connections
        self.idleTimeout = .nanoseconds(Int64(idleTimeout * 1e9))
        self.readTimeout = .nanoseconds(Int64(readTimeout * 1e9))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let id = ObjectIdentifier(context.channel)
        channelID = id
        connections.add(id, state)
        if context.channel.isActive { arm(context, idleTimeout) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        if let id = channelID { connections.remove(id) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, idleTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        state.markClosed()
        if let id = channelID { connections.remove(id) }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client closed its sending side: as nginx does, a request still being answered is abandoned.
        if let e = event as? ChannelEvent, e == .inputClosed { state.markClosed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // The socket failed (reset, broken pipe); a malformed request after this one is not the client leaving.
        if error is IOError || error is ChannelError { state.markClosed() }
        context.fireErrorCaught(error)
    }

    /// The first byte of a request on an otherwise idle connection (from `RequestStart`): from now its
    /// head and body have `readTimeout` to arrive.
    func bytesArrived(context: ChannelHandlerContext) {
        guard pending == 0, !reading else { return }
        reading = true
        disarm()
        arm(context, readTimeout)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            pending += 1
            reading = true
            // Only the request being answered next is timed: one pipelined behind another is read by the
            // server only after the answer in front of it (its timer starts then, in `write`).
            if pending == 1 { disarm(); arm(context, readTimeout) }
        case .body:
            break
        case .end:
            // Read in full: the work's own deadline applies from here, not a connection timer.
            reading = false
            disarm()
            // Answered before its body was in (401, 413, 429): the connection is idle from now.
            if pending == 0 { arm(context, idleTimeout) }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            pending = max(0, pending - 1)
            if pending == 0, !reading { disarm(); arm(context, idleTimeout) }
            else if pending == 1, reading { disarm(); arm(context, readTimeout) }   // the pipelined one is next
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, _ after: TimeAmount) {
        guard timer == nil else { return }
        let loop = context.eventLoop.assumeIsolated()
        timer = loop.scheduleTask(in: after) { [weak self] in
            guard let self else { return }
            self.timer = nil
            // Idle, or the next request has not arrived in time: close. A request being answered is never cut.
            if self.pending == 0 || (self.reading && self.pending == 1) { context.close(promise: nil) }
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}

/// Sits on the raw bytes, before the HTTP codec: tells the guard when a request starts arriving, which
/// the codec cannot (it says nothing until a request's head is complete).
final class RequestStart: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let guardHandler: ConnectionGuard
    private var guardContext: ChannelHandlerContext?
    init(_ g: ConnectionGuard) { guardHandler = g }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if guardContext == nil { guardContext = try? context.pipeline.syncOperations.context(handler: guardHandler) }
        if let g = guardContext { guardHandler.bytesArrived(context: g) }
        context.fireChannelRead(data)
    }
}

/// Hummingbird's HTTP/1.1 channel with the two handlers above in its pipeline.
struct GuardedHTTP1Channel: HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>
    let responder: HTTPChannelHandler.Responder
    let connections: Connections
    let idleTimeout: Double
    let readTimeout: Double

    /// Called on the channel's event loop (Hummingbird's child-channel initialiser).
    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        HTTPThreads.yieldToCompute()
        let g = NIOLoopBound(ConnectionGuard(connections: connections, idleTimeout: idleTimeout, readTimeout: readTimeout), eventLoop: channel.eventLoop)
        do { try channel.pipeline.syncOperations.addHandler(RequestStart(g.value), position: .first) } catch { return channel.eventLoop.makeFailedFuture(error) }
        return HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [g.value])).setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with idle and request-read timeouts and client-gone detection (`GuardedHTTP1Channel`).
    static func guardedHTTP1(connections: Connections, idleTimeout: Double, readTimeout: Double) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            GuardedHTTP1Channel(responder: responder, connections: connections, idleTimeout: idleTimeout, readTimeout: readTimeout)
        }
    }
}
