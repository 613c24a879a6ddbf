"""JupyterLab in a real browser: the server `make lab` starts, a section notebook opened in headless Chromium, its
parameters cell and first library cell run on the project's kernel, and their output shows in the page.

Needs Chromium and its driver (Debian: `apt-get install chromium chromium-driver`) and selenium (the `browser`
extra: `pip install -e ".[browser]"`); skipped without them. Run it alone with
`python -m pytest -q tests/test_jupyterlab_browser.py` (about a minute: the kernel imports torch).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

from prolong import batch, paths
from tests.helpers.markers import integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
selenium = pytest.importorskip("selenium", reason="selenium not installed (pip install -e '.[browser]')")
pytestmark = [integration, pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                              reason="Chromium or chromedriver not installed "
                                                     "(apt-get install chromium chromium-driver)")]

NOTEBOOK = "01_evaluation.ipynb"
TOKEN = "prolong-browser-test"


def lab_arguments() -> list[str]:
    """The arguments of `make lab`'s `jupyter lab` command, as the Makefile has them (root adds --allow-root)."""
    recipe = re.search(r"^lab:.*\n\t(.+)$", (paths.REPO_ROOT / "Makefile").read_text(), re.M).group(1)
    args = re.search(r"jupyter lab (.*)$", recipe).group(1)
    args = [a for a in args.split() if a.startswith("--")]  # the options; make's root switch is added below
    return args + (["--allow-root"] if "--allow-root" in recipe and _is_root() else [])


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """`make lab`'s server on a copy of the notebooks (Lab saves what it runs; the committed ones stay clean)."""
    notebooks = tmp_path / "notebooks"
    shutil.copytree(paths.NOTEBOOKS_DIR, notebooks)
    # the paper scale plans its experiments (launch scripts) instead of training them: a first cell that prints
    nb = nbformat.read(str(notebooks / NOTEBOOK), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = re.sub(r'^scale: str = "\w+"', 'scale: str = "paper"', cell.source, flags=re.M)
    nbformat.write(nb, str(notebooks / NOTEBOOK))
    batch.ensure_kernel()  # the `prolong (.venv)` kernel the notebooks name (make setup registers it)
    port = _free_port()
    args = [a.replace("--notebook-dir=notebooks", f"--notebook-dir={notebooks}") for a in lab_arguments()]
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", *args, "--no-browser", f"--port={port}",
                               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}"],
                              stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"jupyter lab exited: {(tmp_path / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield base, tmp_path / "lab.log"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def test_lab_runs_the_parameters_cell_and_the_first_library_cell(lab):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, server_log = lab
    driver = _chromium()
    try:
        driver.get(f"{base}/lab/tree/{NOTEBOOK}?token={TOKEN}")
        wait = WebDriverWait(driver, 120)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell")))
        # the kernel the notebook names, connected and idle
        wait.until(lambda d: "prolong (.venv)" in d.find_element(By.CSS_SELECTOR, ".jp-KernelName").text)
        wait.until(ec.presence_of_element_located(
            (By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator[data-status='idle']")))
        cells = driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")
        kinds = ["code" if "jp-CodeCell" in c.get_attribute("class") else "markdown" for c in cells]
        library = [i for i, k in enumerate(kinds) if k == "code"][1]  # the first cell after the parameters cell
        cells[0].find_element(By.CSS_SELECTOR, ".jp-InputPrompt, .jp-Cell-inputCollapser").click()  # select it
        for _ in range(library + 1):  # run (or render) each cell up to the library cell, in order
            driver.switch_to.active_element.send_keys(Keys.SHIFT, Keys.ENTER)
            time.sleep(0.3)
        code = driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell")
        long_wait = WebDriverWait(driver, 240)
        long_wait.until(lambda d: code[0].find_element(By.CSS_SELECTOR, ".jp-InputPrompt").text.strip() == "[1]:")
        long_wait.until(lambda d: code[1].find_element(By.CSS_SELECTOR, ".jp-InputPrompt").text.strip() == "[2]:")
        shown = code[1].find_element(By.CSS_SELECTOR, ".jp-OutputArea").text
        assert "Error" not in shown and "Traceback" not in shown, shown
        # the paper scale's first library cell plans the section's experiments and prints their launch scripts
        assert "sbatch" in shown or "experiment file" in shown, shown
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
        assert not [e for e in severe if "WebSocket" in e["message"] or " 500 " in e["message"]], \
            json.dumps(severe, indent=1) + server_log.read_text()[-3000:]
    finally:
        driver.quit()
