"""notebooks/: committed without outputs, parameterised for papermill, and run top to bottom on a clean copy."""

import json
import re
import shutil
import subprocess
import sys
import time

import nbformat
import papermill
import pytest

from helpers import DATA_DIR, REPO, copy_project

NOTEBOOK = REPO / "notebooks" / "convolutions.ipynb"
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
SMALL = {"limit": 3000, "epochs": 1}  # CI's run; the README's quick look
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TIME_LIMIT = 120  # seconds, on 2 cores, kernel start to last cell
PAGE_BUDGET = 6_000_000  # characters of the rendered quick run


def test_the_notebook_is_there():
    assert NOTEBOOK in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_a_committed_notebook_holds_no_outputs_or_execution_counts(path):
    """Outputs (megabytes of images, the explorer page) would swamp every diff; run it to see them."""
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} hold outputs or execution counts. Clear them before committing: "
                       f"jupyter nbconvert --clear-output --inplace {path.relative_to(REPO)}")


def test_the_parameters_cell_is_at_the_top_and_defaults_to_the_full_run():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    tagged = [index for index, cell in enumerate(code_cells) if "parameters" in cell.metadata.get("tags", [])]
    assert tagged == [1], "one cell tagged `parameters`, right after the imports"
    parameters = papermill.inspect_notebook(NOTEBOOK)
    assert {name: parameters[name]["default"] for name in ("limit", "epochs", "data_dir", "run_dir")} == {
        "limit": "None", "epochs": "None", "data_dir": "None", "run_dir": "None"}
    assert code_cells[0].source.count("sys.path.insert(0,") == 1  # the project's root, from notebooks/


def kernel_of_this_python(folder):
    """A kernel spec that starts this interpreter, found first on JUPYTER_PATH: the notebook runs with
    this environment's packages, whatever other `python3` kernels the machine has registered."""
    spec = folder / "kernels" / "convlab-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "convlab test", "language": "python"}))
    return "convlab-test"


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom_on_a_clean_copy(tmp_path, monkeypatch):
    """The small parameters on a copy of the project, offline (the data from its folder): every cell
    runs without error, each section shows what it promises, and the documented HTML renders."""
    (tmp_path / "project").mkdir()
    project = copy_project(tmp_path / "project")
    shutil.copytree(REPO / "notebooks", project / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)  # found through the data_dir parameter
    kernel = kernel_of_this_python(tmp_path / "jupyter")
    executed = tmp_path / "executed.ipynb"

    started = time.perf_counter()
    papermill.execute_notebook(project / "notebooks" / NOTEBOOK.name, executed, kernel_name=kernel,
                               parameters={**SMALL, "data_dir": str(DATA_DIR)}, cwd=project / "notebooks",
                               progress_bar=False)  # raises PapermillExecutionError on any cell's error
    seconds = time.perf_counter() - started
    assert seconds < TIME_LIMIT, f"the notebook took {seconds:.0f} s, over its {TIME_LIMIT} s in CI"

    notebook = nbformat.read(executed, as_version=4)
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    text = "".join(output.get("text", "") for output in outputs)
    # summary() draws its table with rich: shown as HTML, and as text/plain coloured with ANSI codes.
    plain = ANSI.sub("", "".join(output.get("data", {}).get("text/plain", "") for output in outputs))
    html = [output.data["text/html"] for output in outputs if "text/html" in output.get("data", {})]
    images = [page for page in html if page.startswith("<img alt=")]
    assert not [output for output in outputs if output.output_type == "error"]
    # A lesson to read: one line per epoch, no progress-bar frames or control characters, every image described.
    streams = [output.text for output in outputs if output.output_type == "stream"]
    assert not [text for text in streams if "\b" in text or "\r" in text]
    assert len(re.findall(r"^\d+/\d+ - \d+s - \d+ms/step - accuracy: ", text, re.M)) == 2  # an epoch each
    assert not [output for output in outputs if "image/png" in output.get("data", {})]  # each figure has alt text
    assert all(re.match(r'<img alt="[A-Z][^"]{20,}"', page) for page in images)
    assert "retracing" not in text  # TensorFlow's warning when a model is traced again and again
    assert "3000 training, 5000 validation, 10000 test images" in text
    shapes = re.findall(r"(conv_\d|pool_\d) \(\w+\) +│ (\(None, \d+, \d+, 64\))", plain)
    assert shapes == [("conv_1", "(None, 26, 26, 64)"), ("pool_1", "(None, 13, 13, 64)"),
                      ("conv_2", "(None, 11, 11, 64)"), ("pool_2", "(None, 5, 5, 64)")]
    assert "CNN vs DNN:" in text and "test accuracy by class" in text
    assert "vertical filter: by hand (26, 26), tf.nn.conv2d (26, 26), largest difference 0" in text
    assert "horizontal filter: by hand (26, 26), tf.nn.conv2d (26, 26), largest difference 0" in text
    # The data grid, curves, per-class bars, the images the cnn fixes, accuracy under shifts, the exercises,
    # the convolution lesson, two feature-map figures, the filters, their learning, the preprocessing steps
    # and the prediction.
    assert len(images) == 13
    assert re.search(r"The cnn fixes [\d,]+ of the dnn's test errors and makes [\d,]+ new ones", text)
    assert re.search(r"^cnn: 0 px \d+\.\d%, 1 px", text, re.M)
    assert all(f"\n{name} " in text for name in ("cnn:16,16", "cnn:32,32", "cnn:64", "cnn:64,64,64"))
    assert "conv_1's weights changed by a mean of" in text
    assert "these numbers are not the lesson's" in text  # a quick run says so
    assert any("<iframe srcdoc=" in page and "&lt;canvas" in page for page in html)  # the explorer, inline
    assert "test_image_0_as_a_photo.jpg" in text  # the stand-in photo was classified

    run = project / "runs" / (project / "runs" / "latest").read_text().strip()
    results = json.loads((run / "results.json").read_text())
    assert list(results["models"]) == ["dnn", "cnn"] and all(
        model["epochs"] == 1 for model in results["models"].values())
    assert {"dnn.keras", "cnn.keras", "explorer.html", "training_curves.png"} <= {p.name for p in run.iterdir()}

    # The README's command for the executed notebook as a page: jupyter nbconvert --to html, with nothing
    # alarming on its screen, and a page of a reader's length (the quick run's, measured: ~4.7 MB, most of
    # it the explorer page with every epoch's weights; the progress-bar frames once made it 48,900 px tall).
    rendered = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(executed)],
                              capture_output=True, text=True, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    assert "Alternative text is missing" not in rendered.stderr and "WARNING" not in rendered.stderr
    page = (tmp_path / "executed.html").read_text()
    assert page.count("data:image/png;base64,") >= len(images) and "iframe srcdoc=" in page
    assert len(page) < PAGE_BUDGET, f"{len(page):,} characters"
