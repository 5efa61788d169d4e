# Generates 3-D test surfaces of four kinds beside the Gaussian wells, for checking the
# adaptive map's statistical stop on proven sets (docs/MAPPING.md, "A first round of 128 in
# 3-D"): `python3 surfaces_3d.py KIND SEED > NAME.toml`, KIND one of
#   fourier  five random Fourier modes a cos(w·θ + φ) plus a confining quadratic (K = 6)
#   morse    Morse-like shells D (1 − exp(−a (|θ − c|² − r0²)))² around five centres (K = 5)
#   quartic  a random quartic with a positive leading term, split by degree (K = 5)
#   tanh     four tanh-gated linear terms and a trigonometric coupling (K = 5)
# The truth for a check: `bflow map NAME.toml --starts 2048 --prove --json truth.json`.
import random, sys


def r(x):
    return f"{x:.3f}"


def fourier(R):
    objs = []
    for _ in range(5):
        w = [R.uniform(-1.6, 1.6) for _ in range(3)]
        a = R.uniform(0.5, 1.5) * R.choice([-1, 1])
        ph = R.uniform(0, 6.28)
        objs.append(f"{r(a)} * cos({r(w[0])} * x + {r(w[1])} * y + {r(w[2])} * z + {r(ph)})")
    objs.append("0.08 * (x^2 + y^2 + z^2)")
    return "random Fourier modes plus a confining quadratic", objs, 3.0


def quartic(R):
    c = [R.uniform(-1, 1) for _ in range(20)]  # (the last five unused)
    objs = [
        "0.4 * (x^2 + y^2 + z^2)^2",
        f"{r(c[0])} * x^3 + {r(c[1])} * y^3 + {r(c[2])} * z^3 + {r(c[3])} * x * y * z",
        f"{r(c[4])} * x^2 * y + {r(c[5])} * y^2 * z + {r(c[6])} * z^2 * x",
        f"{r(2 * c[7] - 1.5)} * x^2 + {r(2 * c[8] - 1.5)} * y^2 + {r(2 * c[9] - 1.5)} * z^2"
        f" + {r(c[10])} * x * y + {r(c[11])} * y * z",
        f"{r(c[12])} * x + {r(c[13])} * y + {r(c[14])} * z",
    ]
    return "random quartic polynomial with a positive leading term", objs, 3.0


def morse(R):
    objs = []
    for _ in range(5):
        c = [R.uniform(-1.8, 1.8) for _ in range(3)]
        d, a, r0 = R.uniform(0.8, 2.0), R.uniform(0.5, 1.2), R.uniform(0.6, 1.4)
        d2 = " + ".join(f"({v} - ({r(ci)}))^2" for v, ci in zip("xyz", c))
        objs.append(f"{r(d)} * (1 - exp(-{r(a)} * ({d2} - {r(r0 * r0)})))^2")
    return "Morse-like shells around five centres", objs, 2.5


def tanh(R):
    objs = []
    for _ in range(4):
        w = [R.uniform(-2, 2) for _ in range(3)]
        b, a = R.uniform(-1, 1), R.uniform(0.5, 1.5)
        u = [R.uniform(-1, 1) for _ in range(3)]
        objs.append(
            f"{r(a)} * tanh({r(w[0])} * x + {r(w[1])} * y + {r(w[2])} * z + {r(b)})"
            f" * ({r(u[0])} * x + {r(u[1])} * y + {r(u[2])} * z)"
        )
    objs.append("0.15 * (x^2 + y^2 + z^2) + 0.3 * sin(x * y) + 0.3 * cos(y * z)")
    return "tanh-gated linear terms with a trigonometric coupling", objs, 3.0


KINDS = {"fourier": fourier, "quartic": quartic, "morse": morse, "tanh": tanh}

if __name__ == "__main__":
    kind, seed = sys.argv[1], int(sys.argv[2])
    if kind not in KINDS:
        sys.exit(f"surfaces_3d.py: KIND must be one of {', '.join(KINDS)}, got {kind!r}")
    # One stream per seed, drawn kind by kind in this order, as the checks were made.
    R = random.Random(seed)
    made = {}
    for k in ["fourier", "quartic", "morse", "tanh"]:
        made[k] = KINDS[k](R)
    desc, objs, box = made[kind]
    out = [f'name = "{kind}3-{seed}"', f'description = "{desc}"', 'vars = ["x", "y", "z"]', ""]
    for i, e in enumerate(objs):
        out += ["[[objective]]", f'name = "o{i + 1}"', f'expr = "{e}"', ""]
    out += ["[region]"] + [f"{v} = [{-box}, {box}]" for v in "xyz"]
    print("\n".join(out))
