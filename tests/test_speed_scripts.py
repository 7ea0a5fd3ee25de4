"""The scripts that measure a speed pass and turn it into results/speed.md (scripts/speed_pass.py,
scripts/speed_tables.py) and the other generated pages, checked on the files committed under results/."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MACHINE_PASSES = sorted(p.parent for p in (ROOT / "results" / "machines").glob("*/pass.json"))


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_pass_step_writes_its_own_file_inside_the_pass_folder():
    speed_pass = _script("speed_pass")
    root = Path("results/machines/example")
    written = []
    for argv, stdout in speed_pass.steps(root):
        outs = [argv[i + 1] for i, a in enumerate(argv) if a == "--out"] + ([str(stdout)] if stdout else [])
        assert len(outs) == 1, argv  # exactly one output per step, named on the command line
        assert Path(outs[0]).is_relative_to(root), outs[0]
        written.append(outs[0])
        shown = speed_pass.shown(argv, stdout)
        assert shown.startswith(("numbaplay ", "python ", "NUMBAPLAY_BLAS=")) and outs[0] in shown
    assert len(set(written)) == len(written)


def _tables(*args: str, script: str = "speed_tables.py") -> str:
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_speed_md_regenerates_from_the_committed_files():
    page = _tables("--markdown")
    assert page == (ROOT / "results" / "speed.md").read_text()


@pytest.mark.parametrize("folder", MACHINE_PASSES, ids=[p.name for p in MACHINE_PASSES])
def test_a_machine_pass_regenerates_its_page(folder):
    rel = folder.relative_to(ROOT)
    page = _tables("--root", str(rel), "--markdown")
    assert page == (folder / "speed.md").read_text()
    assert "| goal | measured | met |" in page and f"`{rel}/bench/`" in page


@pytest.mark.parametrize("script, page", [("device_tables.py", "threads_16cores.md"),
                                          ("shards_table.py", "update_shards.md")])
def test_other_generated_pages_match_their_files(script, page):
    assert _tables(script=script) == (ROOT / "results" / page).read_text()


def test_unknown_section_is_an_error():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "speed_tables.py"), "no-such-section"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2 and "usage" in run.stderr
