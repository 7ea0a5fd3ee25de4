/* Game kernels: each a few lines over two bitboards. */
#include "games.h"

#include <string.h>

/* Tic-Tac-Toe: bit c is cell c (row-major from the top-left). */
static const int64_t TTT_LINES[8] = {0x007, 0x038, 0x1C0, 0x049, 0x092, 0x124, 0x111, 0x054};

static int ttt_won(int64_t bits) {
    for (int i = 0; i < 8; i++)
        if ((bits & TTT_LINES[i]) == TTT_LINES[i]) return 1;
    return 0;
}

/* Connect Four: bit col*7 + row; the seventh bit of each column is a never-set sentinel, so shifts
 * by 1 (vertical), 7 (horizontal), 6 and 8 (diagonals) never wrap between columns. */
static int c4_won(int64_t bits) {
    static const int shifts[4] = {1, 7, 6, 8};
    uint64_t b = (uint64_t)bits;
    for (int i = 0; i < 4; i++) {
        uint64_t pairs = b & (b >> shifts[i]);
        if (pairs & (pairs >> (2 * shifts[i]))) return 1;
    }
    return 0;
}

int game_info(int id, GameInfo *info) {
    memset(info, 0, sizeof *info);
    info->id = id;
    if (id == GAME_TICTACTOE) {
        info->n_cells = 9;
        info->n_actions = 9;
        info->max_plies = 9;
    } else if (id == GAME_CONNECT4) {
        info->n_cells = 42;
        info->n_actions = 7;
        info->max_plies = 42;
    } else {
        return -1;
    }
    info->obs_size = 2 * info->n_cells;
    info->max_moves = (info->max_plies + 1) / 2;
    return 0;
}

void game_reset(int64_t *st) { st[0] = st[1] = st[2] = st[3] = 0; }

int game_legal(int id, const int64_t *st, int64_t action) {
    uint64_t occupied = (uint64_t)(st[0] | st[1]);
    if (st[3] != ST_ONGOING) return 0;
    if (id == GAME_TICTACTOE) return action >= 0 && action < 9 && !(occupied >> action & 1);
    return action >= 0 && action < 7 && !(occupied >> (action * 7 + 5) & 1);
}

void game_mask(int id, const int64_t *st, uint8_t *mask) {
    int n = id == GAME_TICTACTOE ? 9 : 7;
    for (int a = 0; a < n; a++) mask[a] = (uint8_t)game_legal(id, st, a);
}

void game_obs(int id, const int64_t *st, float *obs) {
    int mover = (int)(st[2] & 1);
    uint64_t mine = (uint64_t)st[mover], theirs = (uint64_t)st[1 - mover];
    if (id == GAME_TICTACTOE) {
        for (int c = 0; c < 9; c++) {
            obs[c] = (float)(mine >> c & 1);
            obs[9 + c] = (float)(theirs >> c & 1);
        }
        return;
    }
    for (int col = 0; col < 7; col++)
        for (int row = 0; row < 6; row++) {
            int bit = col * 7 + row, cell = row * 7 + col;
            obs[cell] = (float)(mine >> bit & 1);
            obs[42 + cell] = (float)(theirs >> bit & 1);
        }
}

void game_play(int id, int64_t *st, int action) {
    int mover = (int)(st[2] & 1);
    if (id == GAME_TICTACTOE) {
        st[mover] |= (int64_t)1 << action;
        st[2] += 1;
        if (ttt_won(st[mover])) st[3] = mover + 1;
        else if (st[2] == 9) st[3] = ST_DRAW;
        return;
    }
    /* Adding the column's bottom bit to its occupied bits carries into the lowest empty cell. */
    int64_t column = (int64_t)0x3F << (action * 7);
    int64_t bottom = (int64_t)1 << (action * 7);
    st[mover] |= ((st[0] | st[1]) + bottom) & column;
    st[2] += 1;
    if (c4_won(st[mover])) st[3] = mover + 1;
    else if (st[2] == 42) st[3] = ST_DRAW;
}
