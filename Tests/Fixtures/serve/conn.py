#!/usr/bin/env python3
"""Raw HTTP/1.1 conversations with a server on one socket, for the connection tests
(ServingProcessTests). Each prints one JSON object. Usage: conn.py MODE PORT [ARGS…]

  pipeline PORT PATH BODY      GET /health, POST PATH, GET /health written at once; the three answers in order
  keepalive PORT PATH BODY N   N POSTs one after another on one connection; whether it stayed open
  continue PORT PATH BODY      a POST with Expect: 100-continue: whether (and when) 100 came before the body was sent
  head PORT PATH               HEAD PATH then GET PATH on one connection: the HEAD answer has no body
  idle PORT LIMIT              a connection that sends nothing: seconds until the server closes it
  idle-after PORT LIMIT        one GET /health, then nothing: seconds until the server closes it
  slowloris PORT LIMIT         a request head sent a byte every 0.25 s: seconds until the server closes it
Every wait is bounded (LIMIT seconds, or 30)."""
import json, socket, sys, time


class Conn:
    def __init__(self, port, timeout=30):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def fill(self):
        data = self.s.recv(65536)
        if not data:
            raise EOFError("closed")
        self.buf += data

    def response(self, head_only=False):
        """(status, headers, body) of the next answer; 1xx answers are returned as they come."""
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        if head_only or 100 <= status < 200:
            return status, headers, b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self.fill()
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self.fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    return status, headers, body
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self.fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed_within(self, limit):
        """Seconds until the server closes the connection (None if it is still open after `limit`)."""
        start = time.monotonic()
        self.s.settimeout(0.1)
        while time.monotonic() - start < limit:
            try:
                if not self.s.recv(65536):
                    return round(time.monotonic() - start, 2)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return round(time.monotonic() - start, 2)
        return None


def post(path, body, extra=""):
    b = body.encode()
    return (f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{extra}Content-Length: {len(b)}\r\n\r\n").encode() + b


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    out = {}
    if mode == "pipeline":
        path, body = sys.argv[3], sys.argv[4]
        c = Conn(port)
        start = time.monotonic()
        c.s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n" + post(path, body) + b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        answers = [c.response() for _ in range(3)]
        out = {"statuses": [a[0] for a in answers], "bodies": [a[2].decode()[:200] for a in answers], "seconds": round(time.monotonic() - start, 2)}
    elif mode == "keepalive":
        path, body, n = sys.argv[3], sys.argv[4], int(sys.argv[5])
        c = Conn(port)
        statuses, closes = {}, 0
        for _ in range(n):
            c.s.sendall(post(path, body))
            st, h, _ = c.response()
            statuses[str(st)] = statuses.get(str(st), 0) + 1
            if h.get("connection", "").lower() == "close":
                closes += 1
                break
        out = {"statuses": statuses, "connection_close": closes}
    elif mode == "continue":
        path, body = sys.argv[3], sys.argv[4]
        c = Conn(port)
        b = body.encode()
        start = time.monotonic()
        c.s.sendall((f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                     f"Content-Length: {len(b)}\r\n\r\n").encode())
        c.s.settimeout(2)
        try:
            interim, _, _ = c.response()
        except socket.timeout:
            interim = None
        waited = round(time.monotonic() - start, 2)
        c.s.settimeout(30)
        c.s.sendall(b)
        final = c.response()[0] if interim == 100 else (interim or c.response()[0])
        out = {"interim": interim, "interim_seconds": waited, "status": final}
    elif mode == "head":
        path = sys.argv[3]
        c = Conn(port)
        c.s.sendall(f"HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        st, h, _ = c.response(head_only=True)
        c.s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        st2, h2, body2 = c.response()
        # Any body bytes after the HEAD answer would have been read as the start of the GET's answer.
        out = {"status": st, "content_length": h.get("content-length"), "next_status": st2, "get_length": len(body2)}
    elif mode in ("idle", "idle-after", "slowloris"):
        limit = float(sys.argv[3]) if len(sys.argv) > 3 else 30
        c = Conn(port)
        if mode == "idle-after":
            c.s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            out["status"] = c.response()[0]
        if mode == "slowloris":
            start = time.monotonic()
            closed = None
            for ch in b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 4096:
                try:
                    c.s.sendall(bytes([ch]))
                except (BrokenPipeError, ConnectionResetError):
                    closed = round(time.monotonic() - start, 2)
                    break
                left = c.closed_within(0.25)
                if left is not None:
                    closed = round(time.monotonic() - start, 2)
                    break
                if time.monotonic() - start > limit:
                    break
            out["closed_after"] = closed
        else:
            out["closed_after"] = c.closed_within(limit)
    else:
        sys.exit(f"unknown mode {mode}")
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
