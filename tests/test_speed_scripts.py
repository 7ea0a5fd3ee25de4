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
    """scripts/NAME.py as a module, with scripts/ importable as it is when the script runs (its siblings)."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
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


def test_preset_changes_name_the_keys_that_differ(tmp_path):
    """The page's "preset changed" clause: keys a run's config.json lacks count as their defaults."""
    import json

    speed_tables = _script("speed_tables")
    for name, cfg in (("old", {"seed": 0, "epochs": 4, "lr": 0.002}), ("new", {"seed": 3, "epochs": 3, "lr": 0.002,
                                                                              "update_shards": 2})):
        (tmp_path / name / "seed0").mkdir(parents=True)
        (tmp_path / name / "seed0" / "config.json").write_text(json.dumps(cfg))
    assert speed_tables._preset_changes(tmp_path / "old", tmp_path / "new") == "`epochs` 4 -> 3"
    assert speed_tables._preset_changes(tmp_path / "old", tmp_path / "old") == ""


def test_preset_tuning_summary_counts_reached_runs_and_means():
    tuning = _script("ttt_preset_tuning")
    records = [{"config": {"epochs": 3}, "seed": s, "full": False, "first_optimal_iteration": it,
                "transitions": 1000 * (s + 1), "update_rows": 3000 * (s + 1)}
               for s, it in enumerate((100, 120, None))]
    records.append({"config": {}, "seed": 0, "full": False, "first_optimal_iteration": 90, "transitions": 900,
                    "update_rows": 3600})
    summary = tuning.summarise(records)
    assert [c["config"] for c in summary] == [{"epochs": 3}, {}]
    first = summary[0]
    assert (first["runs"], first["reached"], first["seeds"]) == (3, 2, [0, 1, 2])
    assert first["first_optimal_iteration"]["mean"] == 110.0 and first["first_optimal_iteration"]["max"] == 120
    assert first["update_rows"]["mean"] == 4500.0
    assert "first_optimal_iteration" not in summary[1]  # one run: no interval
    page = tuning.markdown({"full": False, "command": "c", "date": "d", "uptime_end": "u", "jobs": 2,
                            "configs": summary, "runs": records})
    assert '| `{"epochs": 3}` | 0-2 | 2/3 | 110.0 (' in page and '| `{}` | 0 | 1/1 | - | - | - |' in page


def test_repeated_runs_verdict_names_what_held_where():
    verdict = _script("speed_tables")._repeated_verdict
    assert verdict("yes", True, True, 0, 5, "below 1.8x") == "yes"  # the pass and every repeat agree
    assert verdict("no", False, False, 5, 5, "below 1.8x") == "no"
    assert verdict("yes", True, True, 1, 5, "below 1.8x") == (
        "yes at the median of the repeated runs (1 of 5 below 1.8x; the pass's run met it)")
    assert verdict("no", True, False, 4, 5, "below 1.8x") == (
        "no at the median of the repeated runs (4 of 5 below 1.8x; the pass's run met it)")
    assert verdict("no", False, True, 4, 9, "above 1.5x") == (
        "yes at the median of the repeated runs (4 of 9 above 1.5x; the pass's run did not)")
