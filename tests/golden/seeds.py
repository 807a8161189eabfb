"""What the golden models (`gen.py`, `sla/gen.py`, `agents/gen.py`) share for
random traffic, `gen.py --wild SEED`: the command line, a random generator
independent of Python's `random`, and how a model refuses a scenario it
finds ambiguous. Nothing of the models' own logic is here.

Python 3.11, standard library only.
"""

import sys


class Lcg:
    """Deterministic PRNG (PCG-style LCG), independent of Python's `random`."""

    def __init__(self, seed):
        self.s = seed

    def next(self):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return self.s >> 33

    def randint(self, a, b):
        return a + self.next() % (b - a + 1)

    def choice(self, seq):
        return seq[self.randint(0, len(seq) - 1)]

    def chance(self, pct):
        return self.randint(1, 100) <= pct


def command_line(default_out):
    """`[--wild SEED] [OUT_DIR]`: the seed (None without `--wild`) and the
    directory to write to."""
    args = sys.argv[1:]
    seed = None
    if args[:1] == ["--wild"]:
        seed, args = int(args[1]), args[2:]
    return seed, (args[0] if args else default_out)


def run_model(m, items, seed, hand_checks, exposition, ambiguous):
    """Runs model `m` over `items` and returns its exposition's lines.
    Without a seed its hand checks run too (they count the hand-written
    blocks alone); with one, a scenario the model finds ambiguous (it raises
    `ambiguous`) exits with 3, which tests/golden.rs skips."""
    if seed is None:
        m.run(items)
        hand_checks(m, items)
        return exposition(m)
    try:
        m.run(items)
        return exposition(m)
    except ambiguous as e:
        print(f"refused: {e}", file=sys.stderr)
        sys.exit(3)
