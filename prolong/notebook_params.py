"""Notebook parameters: read a notebook's papermill `parameters` cell and validate a params file against it.

Papermill only warns about a parameter the notebook does not declare and injects anything. Here every notebook
declares its parameters in the cell tagged `parameters`, one per line as `name: type = literal  # meaning`, and a
params file (`params/<scale>/notebooks/<notebook>.yaml`) may only set declared names with values of the declared type.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml

from prolong.config import ConfigError, read_yaml

_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "list": (list,), "dict": (dict,),
}


@dataclass(frozen=True)
class NotebookParameter:
    name: str
    type_name: str
    default: Any
    meaning: str


def parameters_cell(notebook: Path) -> str:
    nb = nbformat.read(str(notebook), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ConfigError(f"{notebook}: expected exactly one code cell tagged 'parameters', found {len(cells)}")
    return cells[0].source


def declared_parameters(notebook: Path) -> dict[str, NotebookParameter]:
    """Parse the parameters cell: each statement must be `name: type = literal  # meaning`."""
    source = parameters_cell(notebook)
    lines = source.splitlines()
    declared: dict[str, NotebookParameter] = {}
    for node in ast.parse(source).body:
        where = f"{notebook}: parameters cell line {node.lineno}"
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None):
            raise ConfigError(f"{where}: only annotated literals are allowed (`name: type = value  # meaning`)")
        type_name = ast.unparse(node.annotation)
        if type_name not in _TYPES:
            raise ConfigError(f"{where}: type {type_name!r} not one of {sorted(_TYPES)}")
        try:
            default = ast.literal_eval(node.value)
        except ValueError as err:
            raise ConfigError(f"{where}: {node.target.id} must be a literal (derived values belong after the "
                              f"parameters cell)") from err
        line = lines[node.lineno - 1]
        if "#" not in line.split("=", 1)[1]:
            raise ConfigError(f"{where}: {node.target.id} needs a trailing `# meaning` comment")
        meaning = line.split("#", 1)[1].strip() if "#" in line else ""
        _check_type(default, type_name, f"{where}: default of {node.target.id}")
        declared[node.target.id] = NotebookParameter(node.target.id, type_name, default, meaning)
    return declared


def _check_type(value: Any, type_name: str, where: str) -> None:
    ok = isinstance(value, _TYPES[type_name]) and not (type_name in ("int", "float") and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{where}: expected {type_name}, got {type(value).__name__} {value!r}")


def validate(notebook: Path, params: dict[str, Any], source: str) -> dict[str, Any]:
    """Check `params` (read from `source`) against the notebook's declared parameters; return them unchanged."""
    declared = declared_parameters(notebook)
    for key, value in params.items():
        if key not in declared:
            raise ConfigError(f"{source}: unknown parameter {key!r} for notebook {notebook.name} "
                              f"(declared: {', '.join(declared)})")
        _check_type(value, declared[key].type_name, f"{source}: {key}")
    return params


def parse_cli_parameters(pairs: list[list[str]] | None) -> dict[str, Any]:
    """`-p NAME VALUE` pairs (as papermill's command line takes them) -> {name: value}, each value read as YAML
    (`40` an int, `true` a bool, `[a, b]` a list), exactly as the params file would give it."""
    out: dict[str, Any] = {}
    for name, raw in pairs or []:
        try:
            out[name] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"-p {name} {raw!r}: the value is not valid YAML ({err})") from err
    return out


def load_params(notebook: Path, params_file: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read and validate a notebook's params file, then `overrides` (`prolong reproduce -p NAME VALUE`) on top,
    validated the same way. A missing file is an error naming the expected path: running the notebook on its
    defaults instead would run another scale's experiments (training included) unasked."""
    if not params_file.is_file():
        raise ConfigError(f"{params_file}: params file of notebook {notebook.name} not found (each scale has one "
                          f"per notebook; an empty file runs the notebook's defaults)")
    params = validate(notebook, read_yaml(params_file), str(params_file))
    if overrides:
        params = {**params, **validate(notebook, overrides, "-p")}
    return params
