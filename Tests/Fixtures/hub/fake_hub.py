#!/usr/bin/env python3
"""A stand-in for the Hugging Face Hub on 127.0.0.1, for tests: no Hub server runs offline.

It implements the endpoints `huggingface_hub` uses to create a repository, upload a folder (README
validation, pre-upload, LFS batch + basic/multipart transfer + verify, NDJSON commit) and download a
revision (revision info with blobs, resolve with LFS redirects), keeps what was committed, and logs
every request as one JSON line (method, route template, path) so a test can compare the sequence a
client sends with the one the real client sends. Faults are injected through POST /_fake/faults:
  {"status_once": {"ROUTE": [429, 1]}}   answer ROUTE once with that status and Retry-After seconds
  {"fail_put": ["OID", ...]}            answer 500 to every PUT of these LFS objects
  {"multipart": CHUNK}                  ask for multipart transfers with this chunk size
  {"corrupt": ["PATH", ...]}            serve altered bytes for these files
Standard library only. Usage: fake_hub.py --port P --token T --log FILE
"""
import argparse, base64, hashlib, json, re, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs, unquote

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".msgpack", ".zip", ".tar.gz")


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Hub:
    def __init__(self, token):
        self.token = token
        self.lock = threading.Lock()
        self.repos = {}      # "models/owner/name" -> {"sha": str, "files": {path: ("regular", bytes) | ("lfs", oid)}}
        self.objects = {}    # oid -> bytes
        self.parts = {}      # oid -> {part number: bytes}
        self.faults = {"status_once": {}, "fail_put": [], "multipart": 0, "corrupt": []}


ROUTES = [
    ("POST", r"^/api/repos/create$", "create"),
    ("POST", r"^/api/validate-yaml$", "validate-yaml"),
    ("POST", r"^/api/(models|datasets)/([^/]+/[^/]+)/preupload/([^/]+)$", "preupload"),
    ("POST", r"^/(datasets/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch$", "lfs-batch"),
    ("PUT", r"^/_lfs/([0-9a-f]{64})$", "lfs-put"),
    ("PUT", r"^/_lfs/([0-9a-f]{64})/part/(\d+)$", "lfs-put-part"),
    ("POST", r"^/_lfs/([0-9a-f]{64})/complete$", "lfs-complete"),
    ("POST", r"^/_lfs/verify$", "lfs-verify"),
    ("POST", r"^/api/(models|datasets)/([^/]+/[^/]+)/commit/([^/]+)$", "commit"),
    ("GET", r"^/api/(models|datasets)/([^/]+/[^/]+)/revision/([^/]+)$", "revision"),
    ("GET", r"^/api/(models|datasets)/([^/]+/[^/]+)$", "repo-info"),
    ("GET", r"^/api/(models|datasets)/([^/]+/[^/]+)/tree/([^/]+)$", "tree"),
    ("GET", r"^/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", "resolve"),
    ("HEAD", r"^/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", "resolve"),
    ("GET", r"^/_cdn/([0-9a-f]{64})$", "cdn"),
    ("HEAD", r"^/_cdn/([0-9a-f]{64})$", "cdn"),
    ("POST", r"^/_fake/faults$", "faults"),
    ("GET", r"^/health$", "health"),
]


def make_handler(hub, log_path):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send(self, status, body=b"", headers=None, ctype="application/json"):
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def error(self, status, message):
            self.send(status, {"error": message})

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def authorized(self):
            return self.headers.get("Authorization") == "Bearer " + hub.token

        def handle_any(self):
            url = urlparse(self.path)
            path = unquote(url.path)
            for method, pattern, route in ROUTES:
                m = re.match(pattern, path)
                if method == self.command and m:
                    break
            else:
                self.body()
                return self.error(404, "no route " + self.command + " " + path)
            data = self.body()
            entry = {"method": self.command, "route": route, "path": path}
            if route == "health":
                return self.send(200, {"ok": True})
            if route == "lfs-put" or route == "lfs-put-part":
                entry["oid"] = m.group(1)
            with open(log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")
            if route == "faults":
                with hub.lock:
                    hub.faults.update(json.loads(data or b"{}"))
                return self.send(200, {"ok": True})
            with hub.lock:
                once = hub.faults["status_once"].pop(route, None)
            if once:
                return self.send(once[0], {"error": "injected"}, {"Retry-After": str(once[1])})
            return getattr(self, "r_" + route.replace("-", "_"))(m, data, parse_qs(url.query))

        do_GET = do_POST = do_PUT = do_HEAD = handle_any

        def public_url(self, key):
            # As the Hub writes it: the endpoint, then datasets/ for datasets, then the id.
            base = "http://127.0.0.1:%d/" % self.server.server_address[1]
            return base + (key if key.startswith("datasets/") else key[len("models/"):])

        def repo_key(self, kind, repo_id):
            return ("datasets/" if kind in ("datasets", "datasets/", "dataset") else "models/") + repo_id

        # --- writes ---
        def r_create(self, m, data, q):
            if not self.authorized():
                return self.error(401, "Invalid credentials in Authorization header")
            req = json.loads(data)
            key = self.repo_key(req.get("type", "model") + "s", (req.get("organization") or "user") + "/" + req["name"])
            with hub.lock:
                if key in hub.repos:
                    return self.error(409, "You already created this model repo")
                hub.repos[key] = {"sha": "0" * 40, "files": {".gitattributes": ("regular", b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n")}}
            return self.send(200, {"url": self.public_url(key)})

        def r_validate_yaml(self, m, data, q):
            req = json.loads(data)
            content = req.get("content", "")
            errors = []
            if content.startswith("---\n") and "\n---\n" not in content[4:]:
                errors.append({"message": "unterminated YAML front matter"})
            return self.send(400 if errors else 200, {"errors": errors, "warnings": []})

        def r_preupload(self, m, data, q):
            if not self.authorized():
                return self.error(401, "Invalid credentials in Authorization header")
            key = self.repo_key(m.group(1), m.group(2))
            if key not in hub.repos:
                return self.error(404, "Repository not found")
            files = []
            for f in json.loads(data)["files"]:
                sample = base64.b64decode(f["sample"])
                lfs = f["path"].endswith(LFS_SUFFIXES) or f["size"] > 10 * 1024 * 1024 or b"\0" in sample
                entry = {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
                have = hub.repos[key]["files"].get(f["path"])
                if have:
                    entry["oid"] = have[1] if have[0] == "lfs" else git_blob_sha1(have[1])
                files.append(entry)
            return self.send(200, {"files": files})

        def r_lfs_batch(self, m, data, q):
            if not self.authorized():
                return self.error(401, "Invalid credentials in Authorization header")
            req = json.loads(data)
            base = "http://127.0.0.1:%d" % self.server.server_address[1]
            objects = []
            for o in req["objects"]:
                entry = {"oid": o["oid"], "size": o["size"]}
                if o["oid"] not in hub.objects:
                    chunk = hub.faults.get("multipart") or 0
                    if chunk and o["size"] > chunk:
                        n = (o["size"] + chunk - 1) // chunk
                        header = {"chunk_size": str(chunk)}
                        header.update({str(i): "%s/_lfs/%s/part/%d" % (base, o["oid"], i) for i in range(1, n + 1)})
                        entry["actions"] = {"upload": {"href": "%s/_lfs/%s/complete" % (base, o["oid"]), "header": header}}
                    else:
                        entry["actions"] = {"upload": {"href": "%s/_lfs/%s" % (base, o["oid"]), "header": {}}}
                    entry["actions"]["verify"] = {"href": base + "/_lfs/verify", "header": {"Authorization": "Bearer " + hub.token}}
                objects.append(entry)
            return self.send(200, {"transfer": "multipart" if hub.faults.get("multipart") else "basic", "objects": objects},
                             ctype="application/vnd.git-lfs+json")

        def r_lfs_put(self, m, data, q):
            oid = m.group(1)
            if oid in hub.faults.get("fail_put", []):
                return self.error(500, "injected failure")
            if hashlib.sha256(data).hexdigest() != oid:
                return self.error(400, "content does not match its oid")
            with hub.lock:
                hub.objects[oid] = data
            return self.send(200)

        def r_lfs_put_part(self, m, data, q):
            oid, n = m.group(1), int(m.group(2))
            with hub.lock:
                hub.parts.setdefault(oid, {})[n] = data
            return self.send(200, b"", {"ETag": '"part-%d-%s"' % (n, hashlib.md5(data).hexdigest())})

        def r_lfs_complete(self, m, data, q):
            oid = m.group(1)
            req = json.loads(data)
            parts = hub.parts.get(oid, {})
            blob = b"".join(parts[p["partNumber"]] for p in sorted(req["parts"], key=lambda p: p["partNumber"]))
            if hashlib.sha256(blob).hexdigest() != oid:
                return self.error(400, "parts do not make the object")
            with hub.lock:
                hub.objects[oid] = blob
            return self.send(200, {})

        def r_lfs_verify(self, m, data, q):
            req = json.loads(data)
            ok = req["oid"] in hub.objects and len(hub.objects[req["oid"]]) == req["size"]
            return self.send(200 if ok else 404, {} if ok else {"error": "object missing"})

        def r_commit(self, m, data, q):
            if not self.authorized():
                return self.error(401, "Invalid credentials in Authorization header")
            key = self.repo_key(m.group(1), m.group(2))
            if key not in hub.repos:
                return self.error(404, "Repository not found")
            lines = [json.loads(l) for l in data.decode().splitlines() if l.strip()]
            if not lines or lines[0]["key"] != "header":
                return self.error(400, "the first line must be the header")
            with hub.lock:
                files = dict(hub.repos[key]["files"])
                for l in lines[1:]:
                    v = l["value"]
                    if l["key"] == "file":
                        files[v["path"]] = ("regular", base64.b64decode(v["content"]))
                    elif l["key"] == "lfsFile":
                        if v["oid"] not in hub.objects or len(hub.objects[v["oid"]]) != v["size"]:
                            return self.error(422, "LFS object %s for %s was not uploaded" % (v["oid"], v["path"]))
                        files[v["path"]] = ("lfs", v["oid"])
                    elif l["key"] == "deletedFile":
                        files.pop(v["path"], None)
                sha = hashlib.sha1((hub.repos[key]["sha"] + json.dumps(sorted((p, f[1] if f[0] == "lfs" else git_blob_sha1(f[1])) for p, f in files.items()))).encode()).hexdigest()
                hub.repos[key] = {"sha": sha, "files": files}
            return self.send(200, {"commitOid": sha, "commitUrl": "%s/commit/%s" % (self.public_url(key), sha)})

        # --- reads ---
        def sibling(self, path, f):
            if f[0] == "lfs":
                size = len(hub.objects[f[1]])
                return {"rfilename": path, "size": size, "blobId": hashlib.sha1(f[1].encode()).hexdigest(), "lfs": {"sha256": f[1], "size": size, "pointerSize": 134}}
            return {"rfilename": path, "size": len(f[1]), "blobId": git_blob_sha1(f[1])}

        def lookup(self, kind, repo_id, rev):
            key = self.repo_key(kind, repo_id)
            repo = hub.repos.get(key)
            if repo is None or rev not in ("main", repo["sha"]):
                return None, None
            return key, repo

        def r_revision(self, m, data, q):
            key, repo = self.lookup(m.group(1), m.group(2), m.group(3))
            if repo is None:
                return self.error(404, "Revision not found")
            return self.send(200, {"id": m.group(2), "sha": repo["sha"], "siblings": [self.sibling(p, f) for p, f in sorted(repo["files"].items())]})

        def r_repo_info(self, m, data, q):
            key, repo = self.lookup(m.group(1), m.group(2), "main")
            if repo is None:
                return self.error(404, "Repository not found")
            return self.send(200, {"id": m.group(2), "sha": repo["sha"], "siblings": [self.sibling(p, f) for p, f in sorted(repo["files"].items())]})

        def r_tree(self, m, data, q):
            key, repo = self.lookup(m.group(1), m.group(2), m.group(3))
            if repo is None:
                return self.error(404, "Revision not found")
            out = []
            for p, f in sorted(repo["files"].items()):
                s = self.sibling(p, f)
                e = {"type": "file", "path": p, "size": s["size"], "oid": s["blobId"]}
                if "lfs" in s:
                    e["lfs"] = {"oid": s["lfs"]["sha256"], "size": s["size"], "pointerSize": 134}
                out.append(e)
            return self.send(200, out)

        def r_resolve(self, m, data, q):
            key, repo = self.lookup(m.group(1) or "models", m.group(2), m.group(3))
            if repo is None or m.group(4) not in repo["files"]:
                return self.send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
            f = repo["files"][m.group(4)]
            corrupt = m.group(4) in hub.faults.get("corrupt", [])
            if f[0] == "lfs":
                size = len(hub.objects[f[1]])
                headers = {"X-Repo-Commit": repo["sha"], "X-Linked-Etag": '"%s"' % f[1], "X-Linked-Size": str(size), "ETag": '"%s"' % f[1],
                           # Another host, as the Hub's CDN is: clients follow it for the bytes, not for metadata.
                           "Location": "http://localhost:%d/_cdn/%s%s" % (self.server.server_address[1], f[1], "?corrupt=1" if corrupt else "")}
                return self.send(302, b"", headers)
            body = f[1] + (b"!" if corrupt else b"")
            return self.send(200, body, {"X-Repo-Commit": repo["sha"], "ETag": '"%s"' % git_blob_sha1(f[1])}, ctype="application/octet-stream")

        def r_cdn(self, m, data, q):
            blob = hub.objects.get(m.group(1))
            if blob is None:
                return self.error(404, "no such object")
            if q.get("corrupt"):
                blob = bytes([blob[0] ^ 1]) + blob[1:]
            return self.send(200, blob, ctype="application/octet-stream")

    return Handler


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--token", required=True)
    a.add_argument("--log", required=True)
    a.add_argument("--lifetime", type=float, default=600, help="exit after this many seconds whatever happens")
    args = a.parse_args()
    hub = Hub(args.token)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(hub, args.log))
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
