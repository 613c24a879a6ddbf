"""`prolong reproduce`: execute every section notebook with papermill, keep going on failure, report at the end.

For each `notebooks/NN_<section>.ipynb`: validate `params/<scale>/notebooks/NN_<section>.yaml` against the notebook's
parameters cell, execute it on the project's kernel with the notebook folder as working directory, and save the
executed copy (`build/notebooks/`, stamped with the commit and parameters) and an HTML report (`build/html/`,
prolong.report.html), then the index page `build/html/index.html`. A failing notebook is named with its cell; the
batch runs the rest and exits non-zero. `-p NAME VALUE` parameters go on top of the params files, validated the same
way (prolong.notebook_params), before anything runs. A notebook whose inputs and outputs are as the last batch left
them is skipped (prolong.reproduce_stamp; `force=True`, the CLI's `--force`, runs every one).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from prolong import paths, reproduce_stamp
from prolong.config import ConfigError
from prolong.notebook_params import load_params, validate
from prolong.report.html import stamp, write_index, write_report
from prolong.tiny import build_tiny

KERNEL_NAME = "prolong"


@dataclass
class NotebookResult:
    notebook: str
    ok: bool
    seconds: float
    error: str = ""
    outputs: list[Path] = field(default_factory=list)
    skipped: bool = False  # unchanged since the last batch (prolong.reproduce_stamp): not executed


def notebooks(selected: list[str] | None = None) -> list[Path]:
    """Section notebooks in order; `selected` filters by stem or stem prefix (e.g. "02")."""
    found = sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if selected:
        unknown = [s for s in selected if not any(nb.stem.startswith(s) for nb in found)]
        if unknown:
            raise ConfigError(f"unknown notebook {unknown[0]!r}; notebooks: {', '.join(nb.stem for nb in found)}")
        found = [nb for nb in found if any(nb.stem.startswith(s) for s in selected)]
    return found


def ensure_kernel() -> str:
    """Register this interpreter as the Jupyter kernel `prolong` (in its own prefix) if it is not registered."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return KERNEL_NAME
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(kernel_name=KERNEL_NAME, display_name="prolong (.venv)", prefix=sys.prefix)
    return KERNEL_NAME


def ipc_kernel_manager() -> type:
    """The kernel manager papermill starts the kernel with: talking over local sockets (IPC) rather than TCP, so the
    kernel has no unencrypted TCP ports to warn about ("running over TCP without encryption") and none to expose."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            # the sockets in a short private folder: a socket path is limited to ~107 bytes, and Jupyter's runtime
            # folder under a long home can pass that
            super().__init__(transport="ipc", ip=os.path.join(tempfile.mkdtemp(prefix="prolong-kernel-"), "k"),
                             **kwargs)

    return IPCKernelManager


def _cell_error(err: BaseException) -> str:
    """One line naming the cell and the exception, from a papermill execution error."""
    cell = getattr(err, "exec_count", None) or getattr(err, "cell_index", None)
    ename, evalue = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", str(err))
    where = f"cell [{cell}]" if cell is not None else "before execution"
    return f"{where}: {ename}: {str(evalue).splitlines()[0] if str(evalue) else ''}"


def run_notebook(notebook: Path, scale: str, build: Path, overrides: dict | None = None) -> NotebookResult:
    import nbformat
    import papermill as pm

    start = time.perf_counter()
    params_file = paths.PARAMS_DIR / scale / "notebooks" / f"{notebook.stem}.yaml"
    executed = build / "notebooks" / notebook.name
    html = build / "html" / f"{notebook.stem}.html"
    try:
        params = load_params(notebook, params_file, overrides)
    except ConfigError as err:
        return NotebookResult(notebook.stem, False, time.perf_counter() - start, f"params: {err}")
    executed.parent.mkdir(parents=True, exist_ok=True)
    error = ""
    try:
        pm.execute_notebook(
            str(notebook), str(executed), parameters=params, kernel_name=ensure_kernel(),
            cwd=str(paths.NOTEBOOKS_DIR), progress_bar=False, log_output=False, report_mode=False,
            kernel_manager_class=ipc_kernel_manager(),
        )
    except Exception as err:  # noqa: BLE001 - any failure of one notebook is reported and the batch goes on
        error = _cell_error(err)
    if executed.exists():
        command = " ".join(["prolong reproduce --scale", scale, "--notebooks", notebook.stem[:2]]
                           + [f"-p {k} {v!r}" for k, v in (overrides or {}).items()])
        nb = stamp(nbformat.read(str(executed), as_version=4), scale, params, command)
        nbformat.write(nb, str(executed))
        write_report(executed, html)
    return NotebookResult(notebook.stem, not error, time.perf_counter() - start, error, [executed, html])


def _params_or_none(nb: Path, scale: str, overrides: dict | None) -> dict | None:
    try:
        return load_params(nb, paths.PARAMS_DIR / scale / "notebooks" / f"{nb.stem}.yaml", overrides)
    except ConfigError:
        return None  # run_notebook reports it


def reproduce(scale: str = "tiny", selected: list[str] | None = None, build: Path | None = None,
              overrides: dict | None = None, force: bool = False) -> list[NotebookResult]:
    """Run the batch; progress lines go to stderr, one per notebook. `overrides` ({name: value}, from `-p`) are set
    in every selected notebook, each of which must declare them. Unchanged notebooks are skipped unless `force`."""
    if not (paths.PARAMS_DIR / scale).is_dir():
        raise ConfigError(f"{paths.PARAMS_DIR / scale}: no params for scale {scale!r}")
    selected_notebooks = notebooks(selected)  # an unknown name is refused before the tiny data is built
    for nb in selected_notebooks if overrides else []:  # ... and so is a -p parameter a notebook does not declare
        validate(nb, overrides, "-p")
    build = build or paths.build_dir()
    os.environ.setdefault("PROLONG_QUIET", "1")  # kernels inherit it: no progress bars in batch runs
    os.environ["PROLONG_SCALE"] = scale
    if scale == "tiny":
        print("[reproduce] tiny data (prolong.tiny.build_tiny) ...", file=sys.stderr, flush=True)
        build_tiny()  # once, before the notebooks read it (fast when built)
    stamps = {} if force else reproduce_stamp.load(build)
    recorded = dict(stamps.get("notebooks", {}))
    unchanged_figures = bool(recorded) and stamps.get("figures") == reproduce_stamp.figures_digest()
    shared = reproduce_stamp.shared_inputs_digest() if unchanged_figures else ""
    params = {nb: _params_or_none(nb, scale, overrides) for nb in selected_notebooks}

    def digest(nb: Path, shared: str) -> str | None:
        return None if params[nb] is None else reproduce_stamp.notebook_digest(shared, nb, scale, params[nb])

    results = []
    for nb in selected_notebooks:
        outputs = [build / "notebooks" / nb.name, build / "html" / f"{nb.stem}.html"]
        if unchanged_figures and all(p.exists() for p in outputs) and recorded.get(nb.stem) == digest(nb, shared):
            print(f"[reproduce] {nb.stem}: unchanged since the last batch (skipped; --force runs it)",
                  file=sys.stderr, flush=True)
            results.append(NotebookResult(nb.stem, True, 0.0, outputs=outputs, skipped=True))
            continue
        print(f"[reproduce] {nb.stem} ...", file=sys.stderr, flush=True)
        result = run_notebook(nb, scale, build, overrides)
        status = "ok" if result.ok else f"FAILED in {result.error}"
        print(f"[reproduce] {nb.stem}: {status} ({result.seconds:.1f}s)", file=sys.stderr, flush=True)
        results.append(result)
    index = write_index(build, {r.notebook: ("ok (unchanged)" if r.skipped else "ok") if r.ok else
                                f"failed: {r.error}" for r in results})
    # the stamps from the state this batch left: the next call with nothing changed skips every notebook
    after = reproduce_stamp.shared_inputs_digest()
    for nb, r in zip(selected_notebooks, results):
        if r.ok and (d := digest(nb, after)):
            recorded[nb.stem] = d
        else:
            recorded.pop(nb.stem, None)
    reproduce_stamp.save(build, recorded)
    print(f"[reproduce] index: {index}", file=sys.stderr, flush=True)
    return results
