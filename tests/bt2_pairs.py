"""Begin/end pairing shared by trace_stats_bt2.py and lttng_stats_bt2.py.

Like libcamera's utils/tracepoints/analyze-ipa-trace.py: begins and ends are
matched with a stack per key, so nested and interleaved calls pair; an end
with no open begin is counted instead of raising.

The figures follow `ringdump trace stats` definitions exactly: mean is
sum/count rounded half up; stddev is sqrt(sum((d - sum/count)^2) / (count -
ddof)) accumulated in end order, rounded half up (ddof 0: the population
one; ddof 1: the sample one, 0 for one pair); p50/p99 are nearest-rank
(ceil(p*n/100)).

Plain Python (no bt2), imported from the scripts' own directory.
"""
import math


class Pairs:
    """Durations of begin/end pairs, by key (GROUP:FUNCTION)."""

    def __init__(self):
        self.stacks = {}
        self.durations = {}
        self.unmatched_ends = 0

    def begin(self, key, t):
        self.stacks.setdefault(key, []).append(t)

    def end(self, key, t):
        stack = self.stacks.setdefault(key, [])
        if stack:
            self.durations.setdefault(key, []).append(t - stack.pop())
        else:
            self.unmatched_ends += 1

    def unmatched_begins(self):
        return sum(len(v) for v in self.stacks.values())

    def calls(self, group, ddof):
        """Per-key figures, sorted by key; `group` names the key's first
        part, `ddof` is 0 (population stddev) or 1 (sample stddev)."""
        calls = []
        for key in sorted(self.durations):
            d = self.durations[key]
            n = len(d)
            total = sum(d)
            mean_f = total / n
            acc = 0.0
            for x in d:
                dx = x - mean_f
                acc += dx * dx
            var = acc / (n - ddof) if n > ddof else 0.0
            s = sorted(d)

            def rank(p):
                return s[max(0, (p * n + 99) // 100 - 1)]

            first, function = key.split(":", 1)
            calls.append({
                "key": key,
                group: first,
                "function": function,
                "count": n,
                "min_ns": s[0],
                "max_ns": s[-1],
                "mean_ns": (2 * total + n) // (2 * n),
                "stddev_ns": math.floor(math.sqrt(var) + 0.5),
                "p50_ns": rank(50),
                "p99_ns": rank(99),
            })
        return calls
