#!/usr/bin/env python3
"""Pooled clients for the keep-alive test: N POSTs of BODY to URL over reused connections, the way
SDKs send them. `one`: one http.client connection, reopened only when the server says
`Connection: close`. `sessions`: C threads, each with its own requests.Session (urllib3's pool).
Prints JSON {"fails": k, "statuses": {status: count}}; a fail is a request that got no answer."""
import http.client, json, sys, threading, urllib.parse

mode, url, body, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = int(sys.argv[5]) if len(sys.argv) > 5 else 1
headers = {"Content-Type": "application/json"}
u = urllib.parse.urlsplit(url)
fails, statuses, lock = [0], {}, threading.Lock()

def note(status):
    with lock:
        if status is None: fails[0] += 1
        else: statuses[status] = statuses.get(status, 0) + 1

if mode == "one":
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    for _ in range(n):
        try:
            conn.request("POST", u.path, body=body, headers=headers)
            r = conn.getresponse(); r.read(); note(r.status)
        except Exception:
            note(None); conn.close()
else:
    import requests
    per = [n // c + (1 if i < n % c else 0) for i in range(c)]
    def worker(k):
        s = requests.Session()
        for _ in range(k):
            try: note(s.post(url, data=body, headers=headers, timeout=120).status_code)
            except Exception: note(None)
    threads = [threading.Thread(target=worker, args=(k,)) for k in per]
    for t in threads: t.start()
    for t in threads: t.join()
print(json.dumps({"fails": fails[0], "statuses": statuses}))
