"""A trained policy-value network you can query: `numbaplay.load_agent(path)`."""
from __future__ import annotations

import numpy as np

from numbaplay import checkpoint
from numbaplay.errors import PositionError
from numbaplay.games import get_game, parse_position
from numbaplay.games.core import legal_mask, observe
from numbaplay.nn.blas import single_threaded_kernel_blas
from numbaplay.nn.net import Workspace, forward_pieces
from numbaplay.nn.params import NetSpec, offsets
from numbaplay.nn.policy import masked_log_softmax
from numbaplay.nn.rows import inference_cuts

# The workspace of the latest network shape a forward ran, shared by every Agent of that shape. A forward's
# buffers are dead once it returns (the kernels hold the GIL, so two forwards never overlap), and allocating
# them afresh for each new Agent (about 30 MB for a Tic-Tac-Toe evaluation of the tictactoe preset) took a quarter
# of each evaluation during training: 8.2 ms per evaluation with a fresh workspace, 6.1 ms reusing one. One
# shape only, so that a sweep over network sizes does not keep one workspace per size alive.
_SHARED: dict = {}


def _workspace(spec_arr: np.ndarray, n: int) -> Workspace:
    key = tuple(int(v) for v in spec_arr)
    ws = _SHARED.get(key)
    if ws is None or ws.rows < n:
        single_threaded_kernel_blas()  # the pieces call BLAS from several Numba threads
        ws = Workspace(spec_arr, max(n, 64), inference=True)
        _SHARED.clear()
        _SHARED[key] = ws
    return ws


class Agent:
    """A network for one game. Positions are strings in SPEC section 1 notation."""

    def __init__(self, game: str, spec: NetSpec, params: np.ndarray, iteration: int = 0,
                 config: dict | None = None):
        self.game = game
        self.spec = spec
        self.params = np.ascontiguousarray(params, dtype=np.float32)
        self.iteration = iteration
        self.config = config or {}
        self._game = get_game(game)
        self._spec = spec.array()
        self._offs = offsets(spec)

    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits float32[n, A] and values float32[n] (after tanh) for observations float32[n, obs]."""
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        n = obs.shape[0]
        ws = _workspace(self._spec, n)
        logits = np.empty((max(n, 1), self.spec.n_actions), np.float32)
        vpre = np.empty(max(n, 1), np.float32)
        if n:
            forward_pieces(self.params, self._spec, self._offs, obs, ws.hs, ws.us, ws.pre, ws.xh, ws.rs,
                           logits, vpre, inference_cuts(n))
        return logits[:n], np.tanh(vpre[:n])

    def logits_fn(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The evaluators' contract: logits float32[n, A] for a batch of positions."""
        return self.forward(obs)[0]

    def _state(self, position: str):
        state = parse_position(self._game, position)
        if state[3] != 0:
            raise PositionError(f"position {position!r}: the game is over; networks are never asked "
                                "about terminal positions")
        return state

    def _encode(self, state):
        obs = np.zeros((1, self._game.obs_size), np.float32)
        mask = np.zeros(self._game.n_actions, np.uint8)
        observe(self._game.gid, obs[0], state)
        legal_mask(self._game.gid, mask, state)
        return obs, mask

    def probs(self, position: str) -> np.ndarray:
        """Policy over all actions at temperature 1: illegal exactly 0, sums to 1 (float64)."""
        obs, mask = self._encode(self._state(position))
        logits, _ = self.forward(obs)
        logp = np.empty(self.spec.n_actions, np.float32)
        masked_log_softmax(logp, logits[0], mask)
        p = np.where(mask.astype(bool), np.exp(logp.astype(np.float64)), 0.0)
        return p / p.sum()

    def value(self, position: str) -> float:
        """The value head's estimate in [-1, 1] for the side to move."""
        obs, _ = self._encode(self._state(position))
        return float(self.forward(obs)[1][0])

    def greedy_action(self, position: str) -> int:
        """Argmax of the legal logits, ties to the lowest index (0-based action)."""
        obs, mask = self._encode(self._state(position))
        logits, _ = self.forward(obs)
        legal = np.flatnonzero(mask)
        return int(legal[np.argmax(logits[0][legal])])


def load_agent(path, game: str | None = None) -> Agent:
    """Load a checkpoint written by `numbaplay train`."""
    ck = checkpoint.load(path, game=game)
    return Agent(ck["meta"]["game"], ck["spec_obj"], ck["params"], ck["meta"]["iteration"],
                 ck["meta"].get("config"))
