"""numbaplay: self-play PPO for Tic-Tac-Toe and Connect Four in Numba, measured exactly."""

__version__ = "0.1.0"


def load_agent(path, game=None):
    """Load a checkpoint as an `Agent` (`.game`, `.probs(position)`, `.value(position)`)."""
    from numbaplay.agent import load_agent as _load

    return _load(path, game)


def solve(position: str, weak: bool = False) -> int:
    """Exact Connect Four score of `position` in Pascal Pons' convention."""
    from numbaplay.eval.solver import solve as _solve

    return _solve(position, weak=weak)


__all__ = ["load_agent", "solve", "__version__"]
