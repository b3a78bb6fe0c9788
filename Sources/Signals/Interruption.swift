// Signals for long commands, a module of its own: the records and the engine never see them, only
// the work loops that check between steps.
import Foundation
import Synchronization

/// SIGINT, SIGTERM and SIGHUP for long commands (train, eval): the first signal is recorded and the
/// work loop stops at its next check (`Interruption.check()`, or the trainer's step boundary), on
/// its own error or checkpoint path; a second signal exits at once. The exit code is 128 + the
/// signal, as shells report it. SIGPIPE is ignored meanwhile: a closed stdout (`… | head`) makes
/// writes fail instead of killing the process mid-work.
public enum Interruption {
    /// The first signal received (0: none). Atomic: a signal handler writes it while work loops read it.
    static let received = Atomic<Int32>(0)
    public static var signal: Int32 { received.load(ordering: .relaxed) }

    public struct Stopped: Error, CustomStringConvertible {
        public let signal: Int32
        public init(signal: Int32) { self.signal = signal }
        public var description: String { "interrupted by signal \(signal); nothing was written" }
    }

    public static func install() {
        Interruption.received.store(0, ordering: .relaxed)
        for s in [SIGINT, SIGTERM, SIGHUP] { installHandler(s) }
        ignoreBrokenPipes()
    }

    /// Back to the default dispositions (the command is done with its work loop).
    public static func uninstall() {
        for s in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { restoreDefault(s) }
    }

    /// Throws `Stopped` once a signal has arrived.
    public static func check() throws {
        if signal != 0 { throw Stopped(signal: signal) }
    }
}

// The C `signal`, outside the enum (whose own `signal` property shadows the name inside it).
private func ignoreBrokenPipes() { _ = signal(SIGPIPE, SIG_IGN) }
private func restoreDefault(_ s: Int32) { _ = signal(s, SIG_DFL) }

private func installHandler(_ s: Int32) {
    _ = signal(s) { sig in
        if Interruption.received.compareExchange(expected: 0, desired: sig, ordering: .relaxed).exchanged == false { _exit(128 + sig) }
    }
}
