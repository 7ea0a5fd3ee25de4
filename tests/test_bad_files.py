"""Damaged or foreign files and bad output paths: one line naming the problem, exit code 2, and nothing on
disk overwritten. Cases from an audit of every command (session 13): each of these once ended in a
traceback or overwrote a file."""
import io
import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from test_cli import _one_line_exit_2

from numbaplay.checkpoint import save
from numbaplay.cli import main
from numbaplay.nn.params import NetSpec, init_params


def write_checkpoint(path, spec=NetSpec("mlp", 18, 8, 1, 9), game="tictactoe", config=None, **over):
    params = init_params(spec, 0)
    zeros = np.zeros_like(params)
    fields = dict(params=params, adam_m=zeros, adam_v=zeros, adam_t=3, spec=spec.array(), pool=params[None],
                  game=game, iteration=2, config=config if config is not None else
                  {"game": game, "arch": spec.arch, "hidden": spec.hidden, "depth": spec.depth})
    save(path, **fields)
    if over:  # rewrite members of the archive as given (arrays, or the metadata as a dict)
        with np.load(path) as data:
            members = {k: data[k] for k in data.files}
        for key, value in over.items():
            if key == "meta":
                meta = json.loads(members["meta"].tobytes())
                meta.update(value)
                value = np.frombuffer(json.dumps(meta).encode(), np.uint8)
            members[key] = value
        np.savez(path, **members)
    return path


@pytest.mark.parametrize("over, needle", [
    (dict(adam_t=np.zeros(0, np.int64)), "adam_t must be one non-negative integer"),
    (dict(adam_t=np.int64(4)), "adam_t must be one non-negative integer"),
    (dict(meta={"iteration": None}), "'iteration' must be a non-negative integer"),
    (dict(meta={"iteration": "abc"}), "'iteration' must be a non-negative integer"),
    (dict(meta={"game": ["x"]}), "names no known game"),
    (dict(meta={"config": {"hidden": 32}}), "has hidden=32"),
    (dict(meta={"config": {"bogus": 1}}), "not a valid configuration"),
    (dict(meta={"config": [1]}), "'config' is not a mapping"),
    (dict(spec=np.array([0, 18, 8, 1, 3])), "gives 3 moves, but tictactoe has 18 inputs and 9 moves"),
    (dict(params=np.zeros(1, np.float64)), "params is float64, expected float32"),
    (dict(pool=np.full((1, 1), np.nan, np.float32)), "pool has shape"),
])
def test_damaged_checkpoints_are_one_line(tmp_path, over, needle):
    path = tmp_path / "ck.npz"
    if "spec" in over:  # a consistent archive whose network does not fit the game
        write_checkpoint(path, spec=NetSpec("mlp", 18, 8, 1, 3), config={})
    else:
        write_checkpoint(path, **over)
    before = path.read_bytes()
    for args in (["eval", str(path)], ["play", "tictactoe", "--checkpoint", str(path)],
                 ["profile", "tictactoe", "--iterations", "1", "--checkpoint", str(path)]):
        assert needle in _one_line_exit_2(CliRunner().invoke(main, args, input="")), args
    assert path.read_bytes() == before


def test_archive_member_that_is_not_an_array(tmp_path):
    path = write_checkpoint(tmp_path / "ck.npz")
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(buf, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name) if name != "params.npy" else b"plain bytes")
    path.write_bytes(buf.getvalue())
    assert "not a" in _one_line_exit_2(CliRunner().invoke(main, ["eval", str(path)]))


def test_config_integer_too_large_for_a_float(tmp_path):
    cfg = tmp_path / "big.json"
    cfg.write_text('{"lr": ' + "9" * 400 + "}")
    line = _one_line_exit_2(CliRunner().invoke(main, ["train", "tictactoe", "--config", str(cfg),
                                                     "--out", str(tmp_path / "run")]))
    assert "'lr' must be a finite number" in line and not (tmp_path / "run").exists()


@pytest.mark.parametrize("args", [["eval", "CK", "--seed", "-1"], ["play", "tictactoe", "--seed", str(2**64)],
                                  ["sweep", "tictactoe", "--param", "lr=0.001:0.01", "--sampler-seed", "-1"],
                                  ["sweep", "tictactoe", "--param", "lr=0.001:0.01", "--seeds", "0,-1"]])
def test_seeds_out_of_range(tmp_path, args):
    args = [str(write_checkpoint(tmp_path / "ck.npz")) if a == "CK" else a for a in args]
    out = tmp_path / "sweep"
    if args[0] == "sweep":
        args += ["--out", str(out)]
    assert "seed" in _one_line_exit_2(CliRunner().invoke(main, args))
    assert not out.exists()  # checked before the sweep folder is made


def test_existing_output_files_are_kept(tmp_path):
    pdf = tmp_path / "mine.pdf"
    pdf.write_text("mine")
    md = tmp_path / "mine.md"
    md.write_text("mine")
    for args in (["profile", "tictactoe", "--iterations", "1", "--games", "2", "--pdf", str(pdf)],
                 ["compare-c", "--game", "tictactoe", "--pdf", str(pdf)],
                 ["ladder", "build", "--out", str(tmp_path / "l.json"), "--markdown", str(md)],
                 ["ladder", "build", "--out", str(md)]):
        line = _one_line_exit_2(CliRunner().invoke(main, args))
        assert "exists; pass --force to overwrite it" in line, line
    assert pdf.read_text() == "mine" and md.read_text() == "mine" and not (tmp_path / "l.json").exists()
    line = _one_line_exit_2(CliRunner().invoke(main, ["profile", "tictactoe", "--pdf", str(tmp_path)]))
    assert "is a folder" in line


def test_atomic_write_keeps_other_files_and_leaves_no_temporary(tmp_path):
    from numbaplay.fileio import write_atomic

    (tmp_path / "report.pdf.tmp").write_text("someone else's")
    write_atomic(tmp_path / "report.pdf", b"new")
    assert (tmp_path / "report.pdf").read_bytes() == b"new"
    assert (tmp_path / "report.pdf.tmp").read_text() == "someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf", "report.pdf.tmp"]


def test_machine_cache_that_is_not_one_is_measured_again():
    from numbaplay.profile.machine import VERSION, _usable

    good = {"version": VERSION, "gemm_gflops": {"1": 100.0, "2": 190.0}, "bandwidth_gbs": {"1": 10.0},
            "gemm_gflops_per_cpu_s": {"1": 99.0}, "bandwidth_gbs_per_cpu_s": {"1": 9.0}}
    assert _usable(good)
    for bad in ([1], None, {**good, "version": VERSION - 1}, {k: v for k, v in good.items() if k != "gemm_gflops"},
                {**good, "bandwidth_gbs": {"2": 10.0}}, {**good, "gemm_gflops": {"1": "fast"}},
                {**good, "gemm_gflops": {"1": -1.0}}, {**good, "gemm_gflops": {"x": 1.0}}):
        assert not _usable(bad), bad


def test_damaged_sweep_folder_stops_before_any_work(tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "tictactoe", "--param", "lr=0.001:0.01", "--seeds", "0", "--iterations", "1", "--no-report",
            "--out", str(out)]
    assert CliRunner().invoke(main, [*args, "--trials", "1"]).exit_code == 0
    rows = (out / "trials.jsonl").read_text()
    db = (out / "study.db").read_bytes()
    for damaged, needle in (('{"trial": 1, "params": {}}\n', "trials.jsonl:2 is not a trial record"),
                            ("not json\n", "trials.jsonl:2 is not JSON"), ("[1]\n", "is not a trial record")):
        (out / "trials.jsonl").write_text(rows + damaged)
        assert needle in _one_line_exit_2(CliRunner().invoke(main, [*args, "--trials", "2"]))
        assert needle in _one_line_exit_2(CliRunner().invoke(main, ["report", str(out), "--force"]))
        assert (out / "study.db").read_bytes() == db  # the study was not touched
    (out / "trials.jsonl").write_text(rows)
    (out / "study.db").write_bytes(b"not a database" * 100)
    assert "is not a readable Optuna study" in _one_line_exit_2(CliRunner().invoke(main, [*args, "--trials", "2"]))
    assert not (out / "trial-0001").exists()
    (out / "sweep.json").write_text("[]")
    assert "is not a sweep settings file" in _one_line_exit_2(CliRunner().invoke(main, ["report", str(out)]))


def test_error_lines_escape_newlines_and_terminal_codes(tmp_path):
    line = _one_line_exit_2(CliRunner().invoke(main, ["report", str(tmp_path / "no\nsuch")]))
    assert "no\\nsuch" in line
    line = _one_line_exit_2(CliRunner().invoke(main, ["solve", "4\x1b[31m4"]))
    assert "\x1b" not in line and "\\x1b" in line
