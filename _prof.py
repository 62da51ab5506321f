import time, torch, frl, sys
torch.set_num_threads(1)
from frl import envs
net = frl.nn.mlp(4, 3, num_cells=(64, 64), activation="silu")
env = envs.ModelEnv(lambda p, s, a: s + net.apply(p, torch.cat([s, a], -1)), lambda p, s, a, s2: -(s**2).sum(-1),
                    observation_spec=envs.Unbounded((3,)), action_spec=envs.Bounded(-2.0, 2.0, (1,)))
ens = torch.vmap(net.init)(frl.random.split(frl.random.key(0), 5))
H = int(sys.argv[2])
mode = sys.argv[1]
obs = torch.randn(8, 200, 3); cand = torch.rand(8, 200, H, 1)
def f_rollout(ens, obs, cand, key):
    td = env.reset(key, start=obs)
    def policy(td):
        t = td.get("step_count").unsqueeze(-1)
        return td.copy().set("action", torch.take_along_dim(cand, t, dim=2).squeeze(2))
    return torch.vmap(lambda p: envs.rollout(env.bind(p), policy, td, H, auto_reset=False)["next", "reward"])(ens).sum((-2,-1)).mean(0)
def f_loop(ens, obs, cand, key):
    td = env.reset(key, start=obs)
    def one(p):
        t, ret = td, 0
        for i in range(H):
            out = env.bind(p).step(t.set("action", cand[:, :, i]))
            ret = ret + out["next", "reward"]
            t = out["next"]
        return ret
    return torch.vmap(one)(ens).sum((-2,-1)).mean(0)
f = {"rollout": f_rollout, "loop": f_loop}[mode]
c = torch.compile(f, fullgraph=True)
t0 = time.perf_counter(); c(ens, obs, cand, frl.random.key(1)); t1 = time.perf_counter()
for _ in range(5): c(ens, obs, cand, frl.random.key(1))
t2 = time.perf_counter()
print(mode, H, "compile", t1 - t0, "per call", (t2 - t1) / 5)
