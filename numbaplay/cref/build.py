"""Build and run the C reference binary `c_reference/build/numbaplay_c`.

`build_binary` runs `make -C c_reference` with the BLAS that `find_blas` locates (the PyPI wheel
scipy-openblas32 first, then Debian's libopenblas-dev); `run_binary` writes a case to a private
temporary directory, runs one mode of the binary and reads its output. Nothing outside
`c_reference/build/` and the temporary directory is ever written.
"""
from __future__ import annotations

import fcntl
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from numbaplay.cref.fileformat import prepare_case, read_tensors, write_tensors
from numbaplay.errors import CReferenceError

C_DIR = Path(__file__).resolve().parents[2] / "c_reference"
BINARY = C_DIR / "build" / "numbaplay_c"
_SOURCES = ("Makefile", "*.c", "*.h")
_SYSTEM_INCLUDES = ("/usr/include/x86_64-linux-gnu/openblas-pthread",
                    "/usr/include/aarch64-linux-gnu/openblas-pthread", "/usr/include/openblas",
                    "/usr/include")
_SYSTEM_LIBS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")


def find_compiler() -> str:
    """Path of `cc` or `gcc`; CReferenceError saying how to install one otherwise."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise CReferenceError("no C compiler (cc or gcc) found: install one with `apt-get install gcc`")


def find_blas() -> dict:
    """Where the BLAS is: {"kind", "include", "libdir", "lib"}.

    kind "scipy-openblas32" (the wheel in this Python environment, scipy_-prefixed symbols) or
    "system" (a cblas.h and libopenblas). CReferenceError naming the install commands otherwise.
    """
    try:
        import scipy_openblas32 as wheel

        include, libdir, lib = wheel.get_include_dir(), wheel.get_lib_dir(), wheel.get_library()
        if (Path(include) / "cblas.h").is_file() and Path(libdir).is_dir():
            return {"kind": "scipy-openblas32", "include": include, "libdir": libdir, "lib": lib}
    except ImportError:
        pass
    for inc in _SYSTEM_INCLUDES:
        if (Path(inc) / "cblas.h").is_file():
            for libdir in _SYSTEM_LIBS:
                if glob.glob(f"{libdir}/libopenblas.so*"):
                    return {"kind": "system", "include": inc, "libdir": libdir, "lib": "openblas"}
    raise CReferenceError("no BLAS found: run `pip install scipy-openblas32` "
                          "(or `apt-get install libopenblas-dev`)")


def make_command(blas: dict | None = None, compiler: str | None = None, build_dir=None) -> list[str]:
    """The `make` command line that builds the binary (into `build_dir` instead of c_reference/build)."""
    blas = blas or find_blas()
    cmd = ["make", "-C", str(C_DIR), f"CC={compiler or find_compiler()}", f"PYTHON={sys.executable}",
           f"BLAS_INCLUDE={blas['include']}", f"BLAS_LIBDIR={blas['libdir']}", f"BLAS_LIB={blas['lib']}"]
    if blas["kind"] == "system":
        cmd.append("BLAS=system")
    if build_dir is not None:
        cmd.append(f"BUILD={Path(build_dir).resolve()}")
    return cmd


def _up_to_date() -> bool:
    if not BINARY.is_file():
        return False
    built = BINARY.stat().st_mtime
    sources = [p for pattern in _SOURCES for p in C_DIR.glob(pattern)]
    return all(p.stat().st_mtime <= built for p in sources)


def build_binary(force: bool = False) -> Path:
    """Build (or reuse) the binary and return its path; CReferenceError with one line on failure.

    NUMBAPLAY_C_BINARY names another build to run instead (e.g. `make -C c_reference sanitize`'s); it is
    used as it is, never rebuilt."""
    override = os.environ.get("NUMBAPLAY_C_BINARY")
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise CReferenceError(f"NUMBAPLAY_C_BINARY={override!r} is not an executable file")
        return path
    if not (C_DIR / "Makefile").is_file():
        raise CReferenceError(f"C reference sources not found at {C_DIR} (run from a numbaplay checkout)")
    if not force and _up_to_date():
        return BINARY
    compiler = find_compiler()
    if shutil.which("make") is None:
        raise CReferenceError("`make` not found: install it with `apt-get install make`")
    blas = find_blas()
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    # One build at a time (parallel test runs share the build directory).
    with open(BINARY.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and _up_to_date():
            return BINARY
        if force:
            for obj in BINARY.parent.glob("*.o"):
                obj.unlink()
        cmd = make_command(blas, compiler)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not BINARY.is_file():
            lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
            detail = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "no output")
            raise CReferenceError(f"building the C reference failed ({' '.join(cmd[:3])}): {detail.strip()}")
    return BINARY


def run_binary(mode: str, case: dict, threads: int = 1, blas_threads: int = 1,
               timeout: float | None = None) -> dict:
    """Run `numbaplay_c <mode>` on `case` (a dict of tensors, see fileformat.INPUTS); its outputs by name.

    A non-zero exit becomes CReferenceError carrying the binary's one-line message.
    """
    tensors = prepare_case(mode, case)
    binary = build_binary()
    with tempfile.TemporaryDirectory(prefix="numbaplay_c_") as tmp:
        src, dst = Path(tmp) / "case.nbp", Path(tmp) / "out.nbp"
        write_tensors(src, tensors)
        cmd = [str(binary), "--threads", str(threads), "--blas-threads", str(blas_threads), mode,
               str(src), str(dst)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise CReferenceError(f"numbaplay_c {mode} ran past {timeout} s") from exc
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            message = lines[-1] if lines else f"exit code {proc.returncode}"
            raise CReferenceError(f"numbaplay_c {mode} failed (exit {proc.returncode}): {message}")
        return read_tensors(dst)
