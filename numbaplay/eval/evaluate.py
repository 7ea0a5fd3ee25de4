"""One entry point for measuring an agent, whatever the game."""
from __future__ import annotations


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
