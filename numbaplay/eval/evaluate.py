"""One entry point for measuring an agent, whatever the game."""
from __future__ import annotations

import numpy as np


def evaluate_agent(agent, *, quick: bool = False, seed: int = 0) -> dict:
    """Exact metrics for Tic-Tac-Toe; ladder Elo and Pons mistake rates for Connect Four.

    `quick` trades precision for speed where the game allows it (used during training).
    """
    if agent.game == "tictactoe":
        from numbaplay.eval.tictactoe_exact import evaluate_tictactoe

        return evaluate_tictactoe(agent.logits_fn)
    from numbaplay.eval.connect4_eval import DEFAULT_LIMITS, evaluate_connect4

    if quick:  # during training: 100 positions a set at most, within what the shipped tables cover
        limits = {name: min(100, DEFAULT_LIMITS.get(name, 100)) for name in
                  ("end-easy", "middle-easy", "middle-medium", "begin-easy", "begin-medium", "begin-hard")}
        return evaluate_connect4(agent, pons_limit=limits, seed=seed)
    return evaluate_connect4(agent, pons_limit=DEFAULT_LIMITS, seed=seed)


_KERNELS = {
    "tictactoe": {"numbaplay.eval.tictactoe_exact": ("_policies_kernel", "_minimax_kernel", "_best_response_kernel",
                                                     "_outcome_kernel", "_reach_kernel")},
    "connect4": {"numbaplay.eval.solver": ("_best_columns",),
                 "numbaplay.eval.players": ("select_moves", "game_keys"),
                 "numbaplay.eval.ladder": ("apply_moves",),
                 "numbaplay.games.core": ("legal_masks", "observations")},
}


def evaluation_kernels(game: str) -> list:
    """The kernels `evaluate_agent` calls from Python for `game`, apart from the network's forward pass.

    Training never compiles them (tests/test_background_compile.py walks the training kernels' callees),
    so a second process may compile them into the cache during a cold start
    (`numbaplay.background_compile`)."""
    import importlib

    return [getattr(importlib.import_module(module), name)
            for module, names in _KERNELS[game].items() for name in names]


class _UniformPolicy:
    """A stand-in agent whose logits are all zero, computed by NumPy: evaluating it runs the evaluation's
    kernels on the arguments a real agent's evaluation gives them, without compiling a network."""

    def __init__(self, game: str):
        from numbaplay.games import get_game

        self.game = game
        self._n_actions = get_game(game).n_actions

    def logits_fn(self, obs, mask):
        return np.zeros((obs.shape[0], self._n_actions), dtype=np.float32)


def compile_evaluation(game: str) -> None:
    """Compile (or load from the cache) every kernel of `evaluation_kernels(game)` by a quick evaluation of a
    uniform stand-in policy, as the first evaluation during training would."""
    evaluate_agent(_UniformPolicy(game), quick=True)
