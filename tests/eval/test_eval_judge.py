import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from prolong.eval.judge import Judge, JudgeConfig, parse_json_score, qa_parse_output, summ_scores


class _Fake(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        _Fake.seen.append((self.path, self.headers.get("Authorization"), prompt))
        if "Correct answers:" in prompt:
            reply = 'Reasoning {"x": 0} ... Output: {"fluency": 1,\n "correctness": 2}'
        elif "Key points:" in prompt:
            reply = '{"recall": 1}'
        elif "Expert summary" in prompt:
            reply = '```json\n{"precision": 1, "sentence_count": 2}\n```'
        else:
            reply = 'Looks fine. {"fluency": 1}'
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
    _Fake.seen.clear()
    qa = judge.qa("Where?", ["Paris", "in Paris"], "Answer: Paris.\nIt is in France.")
    assert qa["judge_score"] == pytest.approx(1 * 2 / 3)  # fluency x correctness / 3 (HELMET: x 100/3 later)
    # HELMET's QA prompt: answers as a Python list, output parsed after "Answer:" with newlines made spaces
    assert "Correct answers: ['Paris', 'in Paris']\nAnswer: Paris. It is in France.\n" in _Fake.seen[0][2]
    s = judge.summ("A sued B. The court ruled for A.", "A long summary.", ["A sued B", "about X"], "multi_lexsum")
    # recall 1/2 key points, precision 1 of the judge's own sentence_count 2 -> F1 0.5, fluency 1
    assert s["judge_f1"] == pytest.approx(0.5) and s["judge_score"] == pytest.approx(0.5)
    assert 'Expert summary: "A long summary."' in _Fake.seen[-1][2]
    assert "Key points:\n1. A sued B\n2. about X\n\nSummary: \"A sued B." in _Fake.seen[-2][2]
    assert _Fake.seen[0][0] == "/v1/chat/completions" and _Fake.seen[0][1] == "Bearer sk-test"


def test_helmet_judge_score_arithmetic():
    # eval_gpt4_summ.py: rec = found / #keypoints, prec = supported / sentence_count, f1 = fluency * harmonic mean
    s = summ_scores(1, 3, 4, 2, 5)
    assert s["judge_recall"] == 0.75 and s["judge_precision"] == 0.4
    assert s["judge_f1"] == pytest.approx(2 * 0.75 * 0.4 / 1.15)
    assert summ_scores(0, 3, 4, 2, 5)["judge_f1"] == 0.0  # not fluent -> 0
    assert summ_scores(1, 0, 4, 0, 0)["judge_f1"] == 0.0  # zero denominators -> 0, no division error
    assert summ_scores(1, 5, 4, 2, 2)["judge_recall"] == 1.25  # HELMET does not clip
    assert qa_parse_output("Paris\nis the answer") == "Paris is the answer"


def test_parse_json_score():
    assert parse_json_score('x {"a": 1} then {"recall": 3}', "recall") == 3.0
    assert parse_json_score("no json", "recall") is None
    assert parse_json_score('{"fluency": 1, "correctness":\n 3}', "correctness") == 3.0  # spans lines
