"""One game interface for Tic-Tac-Toe and Connect Four.

Kernels take a game id and dispatch with a branch, so the trainer, evaluation and CLI never
special-case a game: they hold a `Game` and pass `game.gid` to the kernels in `numbaplay.games.core`.
"""
from numbaplay.games.core import (
    GAMES,
    Game,
    get_game,
    legal_mask,
    legal_masks,
    observations,
    observe,
    parse_position,
    play,
    position_string,
)

__all__ = [
    "GAMES", "Game", "get_game", "legal_mask", "legal_masks", "observations", "observe",
    "parse_position", "play", "position_string",
]
