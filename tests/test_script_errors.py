"""Start-up mistakes end the recipe scripts with one line naming the path."""

import os

import pytest
from piq_recipe_factory import TRAIN_PIQ, make_tiny_setup, tiny_args
from script_runner import error_lines, run_script

CLASSIFIER_RECIPE = os.path.join(
    os.path.dirname(TRAIN_PIQ), "recipes", "ESC50", "train_classifier.py"
)
CLASSIFIER_HPARAMS = os.path.join(
    os.path.dirname(CLASSIFIER_RECIPE), "hparams", "conv2d_classifier.yaml"
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Data, a tiny classifier and a plain file to put folders under."""
    root, paths = make_tiny_setup(tmp_path_factory.mktemp("script_errors"))
    (root / "a_file").write_text("not a folder")
    return root, paths


def assert_one_line(result, program, *fragments):
    lines = error_lines(result)
    assert result.returncode == 1, result.stderr[-3000:]
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith(f"{program}: error: ")
    for fragment in fragments:
        assert str(fragment) in lines[0]


def with_option(args, name, value):
    """``args`` with ``--name``'s value replaced."""
    args = list(args)
    args[args.index(f"--{name}") + 1] = str(value)
    return args


def test_missing_hparams_file(setup):
    root, _ = setup
    missing = root / "missing.yaml"
    result = run_script(TRAIN_PIQ, missing)
    assert_one_line(result, "train_piq.py", missing, "No such file")


def test_override_that_is_not_yaml(setup):
    root, paths = setup
    args = with_option(tiny_args(root, paths, "bad_yaml"), "K", "[1,")
    result = run_script(TRAIN_PIQ, *args)
    assert_one_line(result, "train_piq.py", "overrides", "not valid YAML")


def test_output_folder_that_cannot_be_written(setup):
    root, paths = setup
    args = tiny_args(root, paths, "a_file/run")
    result = run_script(TRAIN_PIQ, *args)
    assert_one_line(result, "train_piq.py", root / "a_file", "Not a directory")


def test_missing_data_folder(setup):
    root, paths = setup
    missing = root / "no_data"
    args = tiny_args(root, paths, "no_data_run", download=False)
    result = run_script(TRAIN_PIQ, *with_option(args, "data_folder", missing))
    assert_one_line(result, "train_piq.py", missing)


def classifier_args(data_folder, output_folder):
    return [
        CLASSIFIER_HPARAMS,
        f"--data_folder={data_folder}",
        f"--output_folder={output_folder}",
        "--download=False",
        "--num_workers=0",
    ]


def test_classifier_recipe_output_folder_that_cannot_be_written(setup):
    root, _ = setup
    args = classifier_args(root / "data", root / "a_file" / "run")
    result = run_script(CLASSIFIER_RECIPE, *args)
    assert_one_line(
        result, "train_classifier.py", root / "a_file", "Not a directory"
    )


def test_classifier_recipe_missing_data_folder(setup):
    root, _ = setup
    args = classifier_args(root / "no_data", root / "classifier_run")
    result = run_script(CLASSIFIER_RECIPE, *args)
    assert_one_line(result, "train_classifier.py", root / "no_data")
