"""A recording stand-in for the Hugging Face Hub, used only by the push tests.

There is no Hub on the test machines, so this standard-library HTTP server on 127.0.0.1 keeps
dataset repos in memory and answers the calls huggingface_hub and datasets make for a push and
a read-back (repo info, create, preupload, LFS batch + upload, commit, tree, resolve). Every
request is recorded (method, path, Authorization header) so tests can assert what was sent.
It implements just enough of the protocol for these tests; it is not a Hub emulator.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


@dataclass
class Repo:
    private: bool = False
    branches: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"main": {}})
    heads: dict[str, str] = field(default_factory=lambda: {"main": "0" * 40})
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def files(self, rev: str) -> dict[str, bytes] | None:
        return self.branches.get(rev) or self.commits.get(rev) or (
            {} if rev in self.branches else None)


class FakeHub:
    def __init__(self):
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.calls: list[tuple[str, str, str | None]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                hub.handle(self, "GET")

            def do_HEAD(self):
                hub.handle(self, "HEAD")

            def do_POST(self):
                hub.handle(self, "POST")

            def do_PUT(self):
                hub.handle(self, "PUT")

        return Handler

    # ---- plumbing --------------------------------------------------------------------------
    def handle(self, req, method: str) -> None:
        url = urlparse(req.path)
        path = unquote(url.path)
        self.calls.append((method, req.path, req.headers.get("Authorization")))
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        try:
            status, headers, payload = self.route(method, path, parse_qs(url.query), body)
        except KeyError as err:
            status, headers, payload = 404, {"X-Error-Code": str(err.args[0])}, {"error": "nf"}
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        req.send_response(status)
        if not isinstance(payload, bytes):
            headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Content-Length", str(len(data)))
        for k, v in headers.items():
            req.send_header(k, v)
        req.end_headers()
        if method != "HEAD":
            req.wfile.write(data)

    def repo(self, repo_id: str) -> Repo:
        if repo_id not in self.repos:
            raise KeyError("RepoNotFound")
        return self.repos[repo_id]

    @staticmethod
    def split_rev(rest: str) -> tuple[str, str]:
        rev, _, tail = rest.partition("/")
        return rev, tail

    def route(self, method: str, path: str, query: dict, body: bytes):
        parts = path.strip("/").split("/")
        if path == "/api/repos/create":
            spec = json.loads(body)
            repo_id = f"{spec.get('organization') or 'user'}/{spec['name']}"
            if repo_id in self.repos:  # the Hub names the existing repo's url in its 409
                return 409, {}, {"error": "You already created this dataset repo",
                                 "url": f"{self.url}/datasets/{repo_id}"}
            private = spec.get("visibility") == "private" or bool(spec.get("private"))
            self.repos[repo_id] = Repo(private=private)
            return 200, {}, {"url": f"{self.url}/datasets/{repo_id}"}
        if path == "/api/validate-yaml":
            return 200, {}, {"errors": [], "warnings": []}
        if parts[:2] == ["api", "datasets"] and len(parts) >= 4:
            return self.api(method, "/".join(parts[2:4]), parts[4:], query, body)
        if parts[0] == "datasets" and parts[2].endswith(".git"):  # LFS batch
            return self.lfs_batch(json.loads(body))
        if parts[0] == "lfs-upload" and method == "PUT":
            self.lfs[parts[1]] = body
            return 200, {}, {}
        if parts[0] == "datasets" and len(parts) > 4 and parts[3] == "resolve":
            repo = self.repo("/".join(parts[1:3]))
            rev, name = parts[4], "/".join(parts[5:])
            files = repo.files(rev)
            if files is None or name not in files:
                raise KeyError("EntryNotFound")
            sha = repo.heads.get(rev, rev)
            content = files[name]
            return 200, {"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha256(content).hexdigest()}"',
                         "Content-Length": str(len(content))}, content
        raise KeyError("EntryNotFound")

    def api(self, method, repo_id, rest, query, body):
        repo = self.repo(repo_id)
        if not rest or rest[0] == "revision":
            rev = unquote(rest[1]) if rest else "main"
            files = repo.files(rev)
            if files is None:
                raise KeyError("RevisionNotFound")
            return 200, {}, {"id": repo_id, "sha": repo.heads.get(rev, rev), "private":
                             repo.private, "siblings": [{"rfilename": f} for f in sorted(files)],
                             "lastModified": "2026-01-01T00:00:00.000Z", "tags": [],
                             "cardData": {}, "disabled": False, "gated": False}
        action, rev = rest[0], unquote(rest[1]) if len(rest) > 1 else "main"
        if action == "branch":
            repo.branches.setdefault(rev, dict(repo.branches["main"]))
            repo.heads.setdefault(rev, repo.heads["main"])
            return 200, {}, {}
        if action == "preupload":
            files = json.loads(body)["files"]
            return 200, {}, {"files": [{"path": f["path"], "shouldIgnore": False, "uploadMode":
                                        "lfs" if f["path"].endswith(".parquet") else "regular"}
                                       for f in files]}
        if action == "tree":
            return self.tree(repo, rev, "/".join(rest[2:]), query)
        if action == "paths-info":
            files = repo.files(rev) or {}
            wanted = parse_qs(body.decode()).get("paths", []) or json.loads(body or b"{}").get(
                "paths", [])
            return 200, {}, [self.entry(p, files[p]) for p in wanted if p in files]
        if action == "commit":
            return self.commit(repo_id, repo, rev, body)
        raise KeyError("EntryNotFound")

    @staticmethod
    def entry(name: str, content: bytes) -> dict:
        oid = hashlib.sha1(content).hexdigest()
        return {"type": "file", "path": name, "size": len(content), "oid": oid}

    def tree(self, repo: Repo, rev: str, folder: str, query: dict):
        files = repo.files(rev)
        if files is None:
            raise KeyError("RevisionNotFound")
        prefix = f"{folder}/" if folder else ""
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        out, dirs = [], set()
        for name, content in sorted(files.items()):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            if "/" in rest and not recursive:
                dirs.add(prefix + rest.split("/")[0])
                continue
            if recursive:  # parent folders are listed too, as the Hub does
                bits = rest.split("/")[:-1]
                dirs.update(prefix + "/".join(bits[:i + 1]) for i in range(len(bits)))
            out.append(self.entry(name, content))
        if folder and not out and not dirs:
            raise KeyError("EntryNotFound")
        return 200, {}, [{"type": "directory", "path": d, "oid": "0" * 40} for d in
                         sorted(dirs)] + out

    def lfs_batch(self, request: dict):
        objects = []
        for obj in request["objects"]:
            item = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.lfs:
                item["actions"] = {"upload": {"href": f"{self.url}/lfs-upload/{obj['oid']}"}}
            objects.append(item)
        return 200, {"Content-Type": "application/vnd.git-lfs+json"}, {
            "transfer": "basic", "objects": objects}

    def commit(self, repo_id: str, repo: Repo, rev: str, body: bytes):
        if rev not in repo.branches:
            raise KeyError("RevisionNotFound")
        files = dict(repo.branches[rev])
        for line in body.decode().splitlines():
            op = json.loads(line)
            value = op["value"]
            if op["key"] == "header":
                repo.messages.append(value.get("summary", ""))
            elif op["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif op["key"] == "lfsFile":
                files[value["path"]] = self.lfs[value["oid"]]
            elif op["key"] in ("deletedFile", "deletedFolder"):
                files = {k: v for k, v in files.items() if k != value["path"]
                         and not k.startswith(value["path"].rstrip("/") + "/")}
        sha = hashlib.sha1(repr(sorted((k, hashlib.sha1(v).hexdigest()) for k, v in
                                       files.items())).encode() + rev.encode()
                           + str(len(repo.messages)).encode()).hexdigest()
        repo.branches[rev], repo.heads[rev], repo.commits[sha] = files, sha, files
        return 200, {}, {"commitUrl": f"{self.url}/datasets/{repo_id}/commit/{sha}",
                         "commitOid": sha, "success": True}
