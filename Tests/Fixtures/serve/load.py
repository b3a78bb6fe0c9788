#!/usr/bin/env python3
"""Concurrent requests for the server tests (standard library only): N POSTs of BODY to URL with C
threads; prints one JSON list of [status, retry_after, seconds] (status 0 = no answer: refused or reset)."""
import json, sys, time, threading, urllib.request, urllib.error

url, body, n, c = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4])
headers = {"Content-Type": "application/json"}
for h in sys.argv[5:]:
    k, v = h.split(":", 1)
    headers[k.strip()] = v.strip()
out, lock, next_i = [], threading.Lock(), [0]

def worker():
    while True:
        with lock:
            if next_i[0] >= n:
                return
            next_i[0] += 1
        t = time.time()
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method="POST"), timeout=120) as r:
                r.read()
                res = [r.status, None]
        except urllib.error.HTTPError as e:
            res = [e.code, e.headers.get("Retry-After")]
        except Exception:
            res = [0, None]
        with lock:
            out.append(res + [round(time.time() - t, 3)])

threads = [threading.Thread(target=worker) for _ in range(c)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(out))
