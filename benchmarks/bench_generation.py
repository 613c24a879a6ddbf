"""Chunked-prefill greedy decoding vs plain `model.generate` on a small random Llama at long prompt lengths.

Each (method, length) runs in its own subprocess so that the CPU peak-memory figure (process max RSS) belongs to it
alone. Results are logged as a run: runs/bench_generation/<name>/ (scores: tokens/s and peak MB per method/length).

    .venv/bin/python benchmarks/bench_generation.py --lengths 8192,16384 --new-tokens 16
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _one(method: str, length: int, new_tokens: int, chunk: int) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from prolong.eval.generate import greedy_generate, plain_generate

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=32000, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                      num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=length + new_tokens,
                      rope_theta=8e6)
    model = LlamaForCausalLM(cfg).eval()
    prompt = torch.randint(3, 32000, (length,), generator=torch.Generator().manual_seed(1)).tolist()
    if method == "chunked":
        out, st = greedy_generate(model, [prompt], new_tokens, (), 0, chunk)
    else:
        out, st = plain_generate(model, [prompt], new_tokens, (), 0)
    t = st.throughput()
    wall = st.prefill_s + st.decode_s
    return {"method": method, "length": length, "new_tokens": len(out[0]), "wall_s": wall,
            "tokens_per_s": (length + len(out[0])) / wall, "peak_mb": st.peak_memory_mb, "throughput": t,
            "out": out[0]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", default="8192,16384")
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--chunk", type=int, default=2048)
    ap.add_argument("--run-name", default="cpu-small-llama")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        method, length = args.child.split(":")
        print(json.dumps(_one(method, int(length), args.new_tokens, args.chunk)))
        return 0

    from prolong.runs import Run

    lengths = [int(x) for x in args.lengths.split(",")]
    params = {"lengths": lengths, "new_tokens": args.new_tokens, "chunk": args.chunk,
              "model": "random Llama 4 layers, d=256, vocab 32000, float32, CPU"}
    run = Run.open("bench_generation", args.run_name, params)
    scores, rows = {}, []
    for length in lengths:
        outs = {}
        for method in ("chunked", "generate"):
            proc = subprocess.run([sys.executable, __file__, "--child", f"{method}:{length}", "--new-tokens",
                                   str(args.new_tokens), "--chunk", str(args.chunk)], capture_output=True, text=True)
            if proc.returncode != 0:
                run.set_status("failed", proc.stderr[-500:])
                print(proc.stderr[-2000:])
                return 1
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            outs[method] = r
            rows.append(r)
            scores[f"{method}_tokens_per_s@{length}"] = r["tokens_per_s"]
            scores[f"{method}_peak_mb@{length}"] = r["peak_mb"]
            print(f"{method:9s} L={length:6d} wall={r['wall_s']:.2f}s tok/s={r['tokens_per_s']:.0f} "
                  f"peak={r['peak_mb']:.0f} MB")
        scores[f"same_output@{length}"] = float(outs["chunked"]["out"] == outs["generate"]["out"])
    run.write_scores(scores)
    from prolong.io import atomic_write_json

    atomic_write_json(run.path / "bench.json", rows)
    run.set_status("done")
    print(f"run: {run.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
