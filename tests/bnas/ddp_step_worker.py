"""Run under torchrun by test_search.py: three `search_step`s of a PC + edge-norm BCNN on
this rank's half of fixed batches; rank 0 then repeats them in one process, averaging the
two halves' gradients by hand, and writes both final parameter vectors to argv[1]."""

import json
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F

from slimnas import distributed as D
from slimnas.bnas.search import search_step
from slimnas.bnas.search_net import SearchNetwork, SearchSpec

SPEC = SearchSpec(net="bcnn", in_channels=3, channels=8, partial_channels=4, edge_norm=True)
STEPS, BATCH = 3, 8


def build():
    torch.manual_seed(0)
    net = SearchNetwork(SPEC).train()
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=1e-2, betas=(0.5, 0.999),
                             weight_decay=1e-3)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.05, momentum=0.9, weight_decay=3e-4)
    return net, a_opt, w_opt


def batches():
    g = torch.Generator().manual_seed(1)
    return [tuple((torch.randn(BATCH, 3, 16, 16, generator=g),
                   torch.randint(0, 10, (BATCH,), generator=g)) for _ in range(2))
            for _ in range(STEPS)]


def flat(net) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def half(batch, r):
    x, y = batch
    n = len(y) // 2
    return x[r * n:(r + 1) * n], y[r * n:(r + 1) * n]


def mean_grads(net, params, batch):
    grads = []
    for r in range(2):
        x, y = half(batch, r)
        grads.append(torch.autograd.grad(F.cross_entropy(net(x), y), params))
    for p, g0, g1 in zip(params, grads[0], grads[1], strict=True):
        p.grad = (g0 + g1) / 2


def main() -> None:
    torch.set_num_threads(1)
    info, _ = D.init_from_env(torch.device("cpu"))
    net, a_opt, w_opt = build()
    data = batches()
    for arch_batch, weight_batch in data:
        search_step(net, half(arch_batch, info.rank), half(weight_batch, info.rank), a_opt,
                    w_opt, grad_clip=5.0, info=info)
    mine = flat(net)
    gathered = [torch.empty_like(mine) for _ in range(info.world_size)]
    dist.all_gather(gathered, mine)
    if info.is_main:
        ref, a_opt, w_opt = build()
        for arch_batch, weight_batch in data:
            mean_grads(ref, ref.arch_parameters(), arch_batch)
            a_opt.step()
            a_opt.zero_grad(set_to_none=True)
            mean_grads(ref, ref.weight_parameters(), weight_batch)
            torch.nn.utils.clip_grad_norm_(ref.weight_parameters(), 5.0)
            w_opt.step()
            w_opt.zero_grad(set_to_none=True)
        start = flat(build()[0])
        with open(sys.argv[1], "w") as f:
            json.dump({"rank_diff": float((gathered[0] - gathered[1]).abs().max()),
                       "ref_diff": float((gathered[0] - flat(ref)).abs().max()),
                       "moved": float((gathered[0] - start).abs().max())}, f)
    # tear down together: a rank leaving while rank 0 still works made gloo abort (SIGABRT)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
