#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_runtime (tests/fuzz/corpus/fuzz_runtime/)
from readable programs. The encoding is fuzz_runtime.c's: byte 0 the mpsc
capacity, then opcodes with their argument bytes."""
import os

OP = dict(spawn=0, abort=1, detach=2, wake=3, spurious=4, yield_=5, sleep=6,
          join_poll=7, join_await=8, try_send=9, close_tx=10, os_send=11,
          os_drop=12, advance=13, stash=14, wake_stash=15)
T = dict(leaf=0, timeout=1, select=2, join=3, send=4, recv=5, oneshot=6, mutex=7, self_abort=8)
L = dict(ready=0, yield_=1, event=2, forever=3, sleep=4)
H = 0x80  # spawn with a join handle


def spawn(kind, arg=0, a=0, b=0):
    return [OP['spawn'], T[kind], arg, a, b]


def leaf2(kind, arg):
    """A child of select/join: kind in the low 3 bits, arg above."""
    return L[kind] | arg << 3


def op(name, *args):
    return [OP[name], *args]


SEEDS = {
    'spawn-join': (1, spawn('leaf', H, L['ready']) + op('yield_') + op('join_poll', 0)),
    'abort-forever': (1, spawn('leaf', H, L['forever']) + op('yield_') + op('abort', 0) +
                      op('yield_') + op('join_poll', 0)),
    'detach-yield': (0, spawn('leaf', H, L['yield_'], 3) + op('detach', 0) + op('sleep', 2)),
    'event-wake': (1, spawn('leaf', H, L['event']) + op('yield_') + op('spurious', 1) +
                   op('yield_') + op('wake', 1) + op('join_await', 0)),
    'timeout': (1, spawn('timeout', H | 3, L['sleep'], 10) + op('join_await', 0) +
                spawn('timeout', H | 8, L['sleep'], 2) + op('join_await', 0)),
    'select': (1, spawn('select', H, leaf2('event', 0), leaf2('sleep', 5)) + op('join_await', 0)),
    'join': (1, spawn('join', H, leaf2('yield_', 3), leaf2('sleep', 2)) + op('join_await', 0)),
    'mpsc': (2, spawn('recv', H) + spawn('send', H | 5) + spawn('send', 3) +
             op('try_send') * 3 + op('yield_') * 3 + op('close_tx') + op('sleep', 1) +
             op('join_await', 0)),
    'oneshot': (1, spawn('oneshot', H) + spawn('oneshot', H) + op('os_send', 0) +
                op('os_drop', 1) + op('yield_') + op('join_poll', 0) + op('join_poll', 1)),
    'mutex': (1, spawn('mutex', H | 3) + spawn('mutex', H | 3) + spawn('mutex', H | 4 | 2) +
              op('yield_') + op('abort', 1) + op('sleep', 5) + op('join_await', 0)),
    'stale-waker': (1, spawn('leaf', H, L['event']) + op('yield_') + op('stash', 1, 0) +
                    op('stash', 1, 1) + op('abort', 0) + op('yield_') + op('wake_stash', 0)),
    'self-abort': (1, spawn('self_abort', H | 2) + spawn('self_abort', H | 4 | 1) +
                   spawn('self_abort', 0) + op('yield_') * 4 + op('join_poll', 0) +
                   op('join_poll', 1)),
    'advance': (1, spawn('leaf', H, L['sleep'], 10) + op('advance', 5) + op('advance', 6) +
                op('yield_') + op('join_poll', 0)),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'fuzz_runtime')
os.makedirs(out, exist_ok=True)
for name, (cap, prog) in SEEDS.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(bytes([cap, *prog]))
