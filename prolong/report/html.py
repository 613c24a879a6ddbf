"""The HTML a person reads after `prolong reproduce`: one report per executed notebook, and build/html/index.html
linking them with their figures and the findings table.

An executed notebook is stamped before it is rendered (`stamp`): its metadata and a first markdown cell record the
git commit and the parameters it ran with. Outputs are scrubbed of the machine's absolute paths (`scrub`): the
repository root becomes a relative path, the interpreter's prefix `<venv>`, the home folder `~`, so a report reads
the same on any machine and shows nothing of this one.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat

from prolong import paths

PROVENANCE_TAG = "prolong-provenance"  # the stamped cell (replaced, not added twice, when stamped again)


def git_commit() -> dict[str, Any]:
    """{"commit": full hash or "unknown", "dirty": tracked files changed since it} of the repository."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(paths.REPO_ROOT), *args], capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": False}


def _replacements() -> list[tuple[str, str]]:
    """(absolute prefix, what a report shows instead), longest first so the repository wins over the home folder."""
    root = str(paths.REPO_ROOT)
    pairs = {root + os.sep: "", sys.prefix + os.sep: "<venv>/", sys.base_prefix + os.sep: "<python>/",
             str(Path.home()) + os.sep: "~/"}
    # the project's folders as they resolve (a symlinked data folder, a run store set by PROLONG_RUNS, ...)
    for name, folder in (("runs", paths.runs_dir), ("build", paths.build_dir), ("figures", paths.figures_dir),
                         ("data", paths.data_dir)):
        pairs.setdefault(str(folder()) + os.sep, f"{name}/" if str(folder()).startswith(root + os.sep)
                         else f"<{name}>/")
    pairs.setdefault(str(paths.REPO_ROOT.resolve()) + os.sep, "")
    return sorted(((k, v) for k, v in pairs.items() if len(k) > 1), key=lambda kv: -len(kv[0]))


def scrub_text(text: str, replacements: list[tuple[str, str]] | None = None) -> str:
    for prefix, shown in replacements or _replacements():
        text = text.replace(prefix, shown)
    return text


def scrub(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Every text output (streams, text/* data, tracebacks) and papermill's recorded paths, without absolute paths."""
    reps = _replacements()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = scrub_text(out["text"], reps)
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    out["data"][mime] = scrub_text(value, reps)
            if "traceback" in out:
                out["traceback"] = [scrub_text(line, reps) for line in out["traceback"]]
    pm = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if isinstance(pm.get(key), str):
            pm[key] = scrub_text(pm[key], reps)
    return nb


def stamp(nb: nbformat.NotebookNode, scale: str, params: dict[str, Any], command: str) -> nbformat.NotebookNode:
    """Record the commit and parameters in `nb.metadata["prolong"]` and in a markdown cell after the title."""
    where = git_commit()
    nb.metadata["prolong"] = {**where, "scale": scale, "parameters": params, "command": command}
    commit = where["commit"][:12] + (" (with uncommitted changes)" if where["dirty"] else "")
    text = (f"*Executed by `{command}` at commit `{commit}` with parameters* "
            f"`{json.dumps(params, sort_keys=True)}`")
    nb.cells = [c for c in nb.cells if PROVENANCE_TAG not in c.metadata.get("tags", [])]
    cell = nbformat.v4.new_markdown_cell(text, metadata={"tags": [PROVENANCE_TAG]})
    cell.pop("id", None)  # nbformat 4.4 notebooks have no cell ids; 4.5 ones get a fresh one below
    if nb.nbformat_minor >= 5:
        cell["id"] = PROVENANCE_TAG
    nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, cell)
    return nb


def write_report(executed: Path, html_path: Path) -> Path:
    """The HTML report of an executed notebook (scrubbed), written next to the others."""
    from nbconvert import HTMLExporter

    nb = scrub(nbformat.read(str(executed), as_version=4))
    body, _ = HTMLExporter().from_notebook_node(nb)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(body)
    return html_path


# ---- build/html/index.html ------------------------------------------------------------------------------------

def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (m := re.search(r"^#\s+(.+)$", cell.source, re.M)):
            return m.group(1).strip()
    return fallback


def _figures_of(nb: nbformat.NotebookNode) -> list[Path]:
    """The PNGs under figures/ that the notebook's tables and figures parameters name (in that order)."""
    params = nb.metadata.get("papermill", {}).get("parameters", {}) or {}
    names = list(params.get("tables", [])) + list(params.get("figures", []))
    return [p for n in names if (p := paths.figures_dir() / f"{n}.png").is_file()]


def _findings_html() -> str:
    path = paths.figures_dir() / "findings.md"
    if not path.is_file():
        return "<p>No findings table yet (figures/findings.md is written by <code>prolong report</code>).</p>"
    import mistune

    return mistune.create_markdown(plugins=["table"])(path.read_text())


def write_index(build: Path, status: dict[str, str] | None = None) -> Path:
    """build/html/index.html: every section report in build/html (title, link, its figures), then the findings."""
    out = build / "html" / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    status = status or {}
    rel = lambda p: html.escape(os.path.relpath(p, out.parent))  # noqa: E731 - links work from any checkout
    sections = []
    for report in sorted((build / "html").glob("[0-9][0-9]_*.html")):
        executed = build / "notebooks" / f"{report.stem}.ipynb"
        nb = nbformat.read(str(executed), as_version=4) if executed.is_file() else nbformat.v4.new_notebook()
        state = status.get(report.stem, "")
        figs = "".join(f'<a href="{rel(p)}"><img src="{rel(p)}" alt="{html.escape(p.stem)}" '
                       f'title="{html.escape(p.name)}"></a>' for p in _figures_of(nb))
        sections.append(f'<section><h2><a href="{rel(report)}">{html.escape(_title(nb, report.stem))}</a>'
                        f'{f" <small>({html.escape(state)})</small>" if state else ""}</h2>'
                        f'<p class="figs">{figs or "(no figures)"}</p></section>')
    where = git_commit()
    page = _PAGE.format(commit=html.escape(where["commit"][:12]), sections="\n".join(sections) or
                        "<p>No reports yet: run <code>make reproduce</code>.</p>", findings=_findings_html(),
                        findings_link=rel(paths.figures_dir() / "findings.md"))
    out.write_text(page)
    return out


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ProLong reproduction: section reports</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }}
.figs img {{ height: 11rem; margin: 0 .5rem .5rem 0; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .2rem .5rem; }}
</style></head><body>
<h1>ProLong reproduction: section reports</h1>
<p>Executed notebooks of <code>prolong reproduce</code> at commit <code>{commit}</code>; each report records the
parameters it ran with.</p>
{sections}
<h2 id="findings">Findings (<a href="{findings_link}">figures/findings.md</a>)</h2>
{findings}
</body></html>
"""
