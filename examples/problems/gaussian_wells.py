# Generates the Gaussian-wells test problems: `python3 gaussian_wells.py N K SEED NAME > NAME.toml`
# (N parameters, K wells and bumps plus a confining quadratic, K + 1 objectives).
import random, sys
def make(n, k, seed, name, box=2.5, conf=0.5):
    r = random.Random(seed)
    vars_ = ["x","y","z","w","u","v"][:n]
    lines = [f'name = "{name}"', f'description = "{n}-D, K={k+1}: {k} Gaussian wells and bumps plus a confining quadratic"', f'vars = {vars_!r}'.replace("'", '"'), ""]
    for i in range(k):
        A = r.choice([-1,-1,-1,1]) * round(r.uniform(1.0, 3.0), 2)
        c = [round(r.uniform(-1.6, 1.6), 2) for _ in range(n)]
        s = round(r.uniform(0.45, 0.8), 2)
        sq = " + ".join(f"({v} - ({ci}))^2" for v, ci in zip(vars_, c))
        lines += ["[[objective]]", f'name = "{"well" if A < 0 else "bump"}_{i+1}"', f'expr = "{A} * exp(-({sq}) / {2*s*s:.4f})"', ""]
    sq = " + ".join(f"{v}^2" for v in vars_)
    lines += ["[[objective]]", 'name = "confine"', f'expr = "{conf} * ({sq}) / 2"', "", "[region]"]
    lines += [f"{v} = [{-box}, {box}]" for v in vars_]
    return "\n".join(lines) + "\n"
n, k, seed, name = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print(make(n, k, seed, name), end="")
