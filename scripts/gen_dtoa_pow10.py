#!/usr/bin/env python3
"""Generate the power-of-ten table of src/doc/dtoa.c and check its proof.

    scripts/gen_dtoa_pow10.py            print the C table (paste it over the
                                         generated block at the end of dtoa.c)
    scripts/gen_dtoa_pow10.py --verify   check, with exact rational arithmetic,
                                         the facts dtoa.c relies on

Entry m (for m = -292 .. 324) is g(m), a 128-bit integer with
2^127 <= g < 2^128 and 10^m ~= g * 2^(beta - 127), beta = floor(log2 10^m).
It is exact for 0 <= m <= 55 (10^m * 2^(127-beta) is an integer there) and
floor + 1 elsewhere, so g never underestimates.

What --verify proves for every double (normal and subnormal, both the
symmetric and the asymmetric rounding interval):
  * the integer approximations of floor(q log10 2), floor(log10(3/4 2^q))
    and floor(m log2 10) that dtoa.c uses are exact over their range;
  * the shift h = q + beta + 1 is in [1, 4], so cp = cbx << h fits 64 bits;
  * where g is not exact, x = cbx * 2^q * 10^-k (cbx < 2^55 + 3) is never
    within the approximation error g*cp/2^128 - x below an integer, so
    floor(g*cp / 2^128) == floor(x). (The distance is found with a
    Euclid-like walk over x*a mod b.)
"""
import sys
from fractions import Fraction as F

M_MIN, M_MAX = -292, 324


def flog10pow2(q): return (q * 78913) >> 18
def flog10_34(q): return (q * 157827 - 65500) >> 19
def flog2pow10(e): return (e * 217706) >> 16


def g_of(m):
    beta = flog2pow10(m)
    if m >= 0:
        p, s = 10 ** m, 127 - beta
        if s >= 0:
            return p << s, True
        t, r = divmod(p, 1 << -s)
        return t + (r != 0), r == 0
    t, _ = divmod(1 << (127 - beta), 10 ** (-m))
    return t + 1, False


def table():
    out = []
    for m in range(M_MIN, M_MAX + 1):
        g, _ = g_of(m)
        assert (1 << 127) <= g < (1 << 128)
        out.append("    {0x%016x, 0x%016x}, /* 10^%d */" % (g >> 64, g & ((1 << 64) - 1), m))
    return "\n".join(out)


def exact_floor_log(base, x):
    k = 0
    while F(base) ** k > x:
        k -= 1
    while F(base) ** (k + 1) <= x:
        k += 1
    return k


def min_gap_above(a, b, n):
    """min over 1 <= x <= n with a*x % b != 0 of b - a*x % b."""
    d = a % b
    if d == 0:
        return b
    e, xu, xw = b - d, 1, 1
    while True:
        if d > e:
            j = min((d - 1) // e, (n - xu) // xw)
            if j <= 0:
                break
            xu, d = xu + j * xw, d - j * e
        else:
            j = min((e - 1) // d, (n - xw) // xu)
            if j <= 0:
                break
            xw, e = xw + j * xu, e - j * d
    return e


def verify():
    import random
    rnd = random.Random(1)
    for _ in range(2000):  # the walk against brute force
        b = rnd.randint(2, 10 ** 6)
        a, n = rnd.randint(1, b - 1), rnd.randint(1, 3000)
        gaps = [b - a * x % b for x in range(1, n + 1) if a * x % b]
        if gaps:
            assert min(gaps) == min_gap_above(a, b, n)
    qs = range(-1074, 972)
    for q in qs:
        assert flog10pow2(q) == exact_floor_log(10, F(2) ** q)
        assert flog10_34(q) == exact_floor_log(10, F(3, 4) * F(2) ** q)
    for m in range(-400, 400):
        assert flog2pow10(m) == exact_floor_log(2, F(10) ** m)
    nmax = (1 << 55) + 2
    worst = None
    for e_bits in range(0, 2047):
        q = -1074 if e_bits == 0 else e_bits - 1075
        ks = [flog10pow2(q)] + ([flog10_34(q)] if e_bits > 1 else [])
        for k in ks:
            m = -k
            assert M_MIN <= m <= M_MAX
            beta = flog2pow10(m)
            h = q + beta + 1
            assert 1 <= h <= 4
            g, exact = g_of(m)
            if exact:
                continue
            alpha = F(2) ** q / F(10) ** k
            gap = F(min_gap_above(alpha.numerator, alpha.denominator, nmax), alpha.denominator)
            err = F(nmax << h) * (g - F(10) ** m * F(2) ** (127 - beta)) / F(2) ** 128
            assert gap > err, (q, k)
            if worst is None or gap / err < worst:
                worst = gap / err
    print("verified; smallest gap/error ratio %.1f" % float(worst))


if __name__ == "__main__":
    if "--verify" in sys.argv[1:]:
        verify()
    else:
        print(table())
