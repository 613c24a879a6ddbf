import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from prolong.eval.judge import Judge, JudgeConfig, parse_json_score


class _Fake(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        _Fake.seen.append((self.path, self.headers.get("Authorization"), prompt))
        if "fluency" in prompt and "Provided answer" not in prompt and "Key points" not in prompt \
                and "Expert summary" not in prompt:
            reply = 'Looks fine. {"fluency": 1}'
        elif "correctness" in prompt:
            reply = 'Reasoning... Output: {"correctness": 2}'
        elif "Key points" in prompt:
            reply = '{"recall": 1}'
        else:
            reply = '{"precision": 1, "sentence_count": 2}'
        data = json.dumps({"choices": [{"message": {"content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def endpoint():
    server = HTTPServer(("127.0.0.1", 0), _Fake)
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_judge_scores_against_fake_endpoint(endpoint, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    judge = Judge(JudgeConfig(enabled=True, base_url=endpoint, model="fake", api_key_env="FAKE_KEY"))
    qa = judge.qa("Where?", ["Paris"], "Paris.")
    assert qa["judge_score"] == pytest.approx(1 * 2 / 3)
    s = judge.summ("A sued B. The court ruled for A.", "A sued B. It was about X. A won.", ["A sued B", "about X"])
    # recall 1/2 key points, precision 1/2 sentences -> F1 0.5, fluency 1
    assert s["judge_f1"] == pytest.approx(0.5) and s["judge_score"] == pytest.approx(0.5)
    assert _Fake.seen[0][0] == "/v1/chat/completions" and _Fake.seen[0][1] == "Bearer sk-test"


def test_parse_json_score():
    assert parse_json_score('x {"a": 1} then {"recall": 3}', "recall") == 3.0
    assert parse_json_score("no json", "recall") is None
