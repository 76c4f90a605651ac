"""Generation under faults, against a real faulty OpenAI-compatible HTTP server on 127.0.0.1:
answered requests are never sent twice, total failure fails the build, a dead server is found
in seconds, and credentials in the URL or params never reach rows, report or card."""
from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from datatools.cache import RequestCache, cached_chat_results
from datatools.generate.backend import BackendUnreachable, Sampling
from datatools.generate.backends import make_backend
from datatools.pipeline import run_build
from datatools.recipe import load_recipe_dict
from datatools.schemas.errors import QualityGateError

SECRET = "sk-live0123456789abcdefSECRET"


class FaultyServer:
    """Answers chat completions with "answer to <prompt>"; prompts containing "FAIL" (or every
    prompt, with fail_all) get HTTP 500. Counts requests per prompt and keeps auth headers."""

    def __init__(self, fail_all: bool = False):
        self.hits: Counter[str] = Counter()
        self.auth: list[str] = []
        self.fail_all = fail_all
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                server.hits[prompt] += 1
                server.auth.append(self.headers.get("Authorization", ""))
                if server.fail_all or "FAIL" in prompt:
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b'{"error": "injected fault"}')
                    return
                out = json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                  "model": body["model"], "choices": [{
                                      "index": 0, "finish_reason": "stop", "message": {
                                          "role": "assistant",
                                          "content": f"answer to {prompt}"}}],
                                  "usage": {"prompt_tokens": 1, "completion_tokens": 3,
                                            "total_tokens": 4}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, userinfo: str = "") -> str:
        return f"http://{userinfo}127.0.0.1:{self.port}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FaultyServer()
    yield s
    s.close()


def backend(url: str, **kw):
    return make_backend({"backend": "openai", "model": "m", "base_url": url,
                         "max_retries": 1, "retry_backoff": 0.01, **kw})


def test_one_failed_request_does_not_resend_its_answered_neighbours(server, tmp_path):
    convs = [[{"role": "user", "content": f"q{i}" + (" FAIL" if i == 7 else "")}]
             for i in range(20)]
    with RequestCache(tmp_path / "r.sqlite") as cache:
        results = cached_chat_results(backend(server.url()), cache, convs, Sampling(),
                                      batch_size=20)
        assert sum(isinstance(r, list) for r in results) == 19
        # before: the batch raised, so all 19 answered requests were sent a second time
        assert {p: n for p, n in server.hits.items() if "FAIL" not in p} == {
            f"q{i}": 1 for i in range(20) if i != 7}
        assert server.hits["q7 FAIL"] == 2  # its own retry, nothing more
        assert len(cache) == 19  # every finished request committed
        server.hits.clear()
        cached_chat_results(backend(server.url()), cache, convs, Sampling(), batch_size=20)
        assert dict(server.hits) == {"q7 FAIL": 2}  # a rerun retries only the failed one


def prompts_file(path: Path, n: int = 10) -> Path:
    path.write_text("".join(json.dumps({"prompt": f"prompt number {i}"}) + "\n"
                            for i in range(n)))
    return path


def gen_recipe(tmp_path: Path, url: str, **policy) -> dict:
    return {"name": "gen", "sources": [{"path": str(prompts_file(tmp_path / "p.jsonl"))}],
            "steps": [{"generate": {"policies": [{
                "backend": "openai", "model": "m", "base_url": url, "max_retries": 1,
                "retry_backoff": 0.01, **policy}]}}],
            "outputs": {"dir": str(tmp_path / "out"), "sft": {}}}


def test_total_generation_failure_fails_the_build(tmp_path):
    server = FaultyServer(fail_all=True)
    try:
        with pytest.raises(QualityGateError, match=r"steps\[0\]\.generate\.max_failure_rate: "
                                                   r"policy m: 10 of 10 requests failed"):
            run_build(load_recipe_dict(gen_recipe(tmp_path, server.url())), quiet=True)
    finally:
        server.close()
    assert not (tmp_path / "out").exists()  # before: exit 0 with an empty dataset


def test_a_few_failures_under_the_limit_still_build(server, tmp_path):
    spec = gen_recipe(tmp_path, server.url())
    spec["steps"][0]["generate"]["max_failure_rate"] = 0.2
    prompts_file(tmp_path / "p.jsonl")
    rows = [json.dumps({"prompt": f"prompt number {i}" + (" FAIL" if i == 3 else "")})
            for i in range(10)]
    (tmp_path / "p.jsonl").write_text("\n".join(rows) + "\n")
    spec["sources"] = [{"path": str(tmp_path / "p.jsonl")}]
    result = run_build(load_recipe_dict(spec), quiet=True)
    assert result.report["steps"][0]["by_reason"] == {"generate.error": 1}


def test_a_dead_server_is_found_in_seconds(tmp_path):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    prompts_file(tmp_path / "p.jsonl", n=200)
    spec = gen_recipe(tmp_path, f"http://127.0.0.1:{port}/v1", max_retries=4,
                      retry_backoff=0.5)
    spec["sources"] = [{"path": str(prompts_file(tmp_path / "p.jsonl", n=200))}]
    started = time.perf_counter()
    with pytest.raises(BackendUnreachable, match="server unreachable: 24 connection attempts "
                                                 "in a row failed"):
        run_build(load_recipe_dict(spec), quiet=True)
    # before: every prompt tried in turn with full backoff (minutes for 200 prompts)
    assert time.perf_counter() - started < 20


def test_credentials_in_the_url_and_params_never_reach_published_files(server, tmp_path):
    spec = gen_recipe(tmp_path, server.url(f"bob:{SECRET}@"),
                      extra_body={"api_key": "plain-password-1", "note": f"key {SECRET}"})
    result = run_build(load_recipe_dict(spec), quiet=True)
    assert server.auth[0].startswith("Basic ")  # the server did get the credentials
    out = result.out_dir
    published = [p for p in out.rglob("*") if p.is_file() and ".cache" not in p.parts]
    assert {p.name for p in published} >= {"train.parquet", "report.json", "README.md"}
    for path in published:
        data = path.read_bytes()
        if path.suffix == ".parquet":
            data = pl.read_parquet(path).write_json().encode()
        assert SECRET.encode() not in data and b"plain-password-1" not in data, path
        assert b"bob:" not in data, path
    meta = json.loads(pl.read_parquet(out / "sft" / "train.parquet")["meta"][0])
    assert meta["generation"]["base_url"] == server.url()  # still says which server
