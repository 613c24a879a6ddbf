"""Security of a shared cluster: no load reaches the network, the judge's key goes only to its own endpoint and is never
logged, and the run store is written with the umask's permissions (the data state is JSON: tests/train/
test_train_faults.py shows a pickled one is never executed)."""

import argparse
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from prolong import paths
from prolong.io import atomic_write_json, atomic_write_text

_NO_NETWORK = r'''
import json, os, socket, sys, time
attempts = []
def blocked(*args, **kwargs):
    attempts.append(repr(args[:2])[:80])
    raise OSError("network blocked by the test")
socket.socket.connect = blocked
socket.create_connection = blocked
socket.getaddrinfo = blocked
import prolong
from prolong.eval.config import EvalConfig
from prolong.eval.runner import load_model
from prolong.eval.tasks.longdoc import load_doc_tokenizer
errors, t0 = [], time.perf_counter()
for load in (lambda: load_doc_tokenizer("meta-llama/Llama-2-7b-hf"),          # HELMET's doc tokenizer, by Hub name
             lambda: load_model("models/missing-llama", EvalConfig())):     # a local path that is not there
    try:
        load()
        errors.append(None)
    except Exception as err:
        errors.append(f"{type(err).__name__}: {str(err)[:200]}")
print(json.dumps({"attempts": attempts, "errors": errors, "seconds": time.perf_counter() - t0,
                  "offline": os.environ.get("HF_HUB_OFFLINE")}))
'''


def _python(code, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                                                              "HF_DATASETS_OFFLINE", "PROLONG_ALLOW_NETWORK")}
    full.update(env, PYTHONPATH=str(paths.REPO_ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=300,
                         cwd=paths.REPO_ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_no_model_or_tokenizer_load_reaches_the_network():
    """The doc tokenizer by Hub name tried the network for 53 s; now every load fails at once, touching no socket."""
    result = json.loads(_python(_NO_NETWORK).strip().splitlines()[-1])
    assert result["offline"] == "1"
    assert result["attempts"] == [], result
    assert all(e is not None for e in result["errors"]), result
    assert "models/missing-llama: not a loadable local model folder" in result["errors"][1]
    assert result["seconds"] < 20, result  # no retries (the import of transformers is not in it)


def test_network_is_an_explicit_opt_in():
    code = "import os, prolong; print(os.environ.get('HF_HUB_OFFLINE'))"
    assert _python(code, PROLONG_ALLOW_NETWORK="1").strip() == "None"
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # this test process imported prolong


class _Endpoint(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        _Endpoint.seen.append(self.headers.get("Authorization"))
        data = json.dumps({"choices": [{"message": {"content": '{"fluency": 1, "correctness": 3}'}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def other_endpoint():
    server = HTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Endpoint.seen.clear()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def _eval_args(*argv):
    from prolong.eval import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.resolve_config(parser.parse_args(["--model", "m", *argv]))


def test_judge_key_goes_only_to_the_endpoint_it_was_configured_for(other_endpoint, monkeypatch):
    from prolong.eval.judge import Judge, JudgeConfig, judge_key

    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    monkeypatch.setenv("LOCAL_JUDGE_KEY", "sk-local")
    # --judge-url alone: the OpenAI key used to be sent to whatever URL was given
    cfg = _eval_args("--judge-url", other_endpoint)
    assert Judge(cfg.judge).qa("Q?", ["A"], "Answer: A")["judge_score"] == 1.0
    assert _Endpoint.seen == [None]
    # the same in a params file that sets another base_url and keeps the default key variable
    Judge(JudgeConfig(enabled=True, base_url=other_endpoint)).qa("Q?", ["A"], "Answer: A")
    assert _Endpoint.seen == [None, None]
    # an explicit --judge-key-env is that endpoint's key
    cfg = _eval_args("--judge-url", other_endpoint, "--judge-key-env", "LOCAL_JUDGE_KEY")
    Judge(cfg.judge).qa("Q?", ["A"], "Answer: A")
    assert _Endpoint.seen[-1] == "Bearer sk-local"
    # the OpenAI key still goes to OpenAI (not called here), and no key is ever part of the run's params
    assert judge_key(JudgeConfig()) == "sk-openai-secret"
    assert "sk-" not in json.dumps(cfg.to_dict()) and cfg.judge.api_key_env == "LOCAL_JUDGE_KEY"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask(tmp_path, umask, mode):
    """mkstemp made every run-store file 0600 whatever the umask: others on the cluster could not read it."""
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        atomic_write_json(tmp_path / "b.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == mode
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == mode
