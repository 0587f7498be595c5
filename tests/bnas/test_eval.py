"""Evaluation networks from a genotype: build, one training step, train + export, ONNX."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from slimnas.bnas.eval_net import EvalNetwork, EvalSpec, eval_spec_from
from slimnas.bnas.export import load_exported_network, read_exported_arch
from slimnas.bnas.genotype import Genotype
from slimnas.bnas.train import TrainInterrupted, cutout, train_genotype
from slimnas.errors import SlimnasError


@pytest.mark.parametrize("spec", [
    EvalSpec(net="bcnn", in_channels=3, channels=8, cells=6, enhancement_cells=2),
    EvalSpec(net="darts", in_channels=3, channels=8, cells=6),
], ids=["bcnn", "darts"])
def test_paper_genotype_builds_and_trains_one_step(paper_genotype_json, spec):
    genotype = Genotype.from_json(json.loads(json.dumps(paper_genotype_json)))
    torch.manual_seed(0)
    net = EvalNetwork(spec, genotype).train()
    net.drop_prob = 0.2
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    before = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert sum(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True)) > 0
    assert net.eval()(x).shape == (4, 10)
    if spec.net == "bcnn":
        body = net.body
        assert spec.reductions() == [2, 5]  # the papers' 6 cells, stride 2 at 2 and 5
        assert [len(b) for b in body.blocks] == [3, 3]
        # enhancement cells are `reduce` at stride 1: their skips are identities
        skips = sum(op == "skip_connect" for op, _ in genotype.reduce)
        assert len(body.enhance) == 2
        assert sum(isinstance(op, torch.nn.Identity) for op in body.enhance[0].ops) == skips
        # convolution cells are `normal`: sep_conv_3x3 first on node 2
        assert type(body.cells[0].ops[0]).__name__ == "SepConv"
    assert eval_spec_from(net.describe()) == EvalSpec(**{**spec.__dict__,
                                                          "reduction_at": tuple(spec.reductions())})


def test_drop_path_only_in_training(paper_genotype):
    torch.manual_seed(0)
    net = EvalNetwork(EvalSpec(channels=4, cells=3, enhancement_cells=1), paper_genotype)
    net.drop_prob = 0.5
    x = torch.randn(8, 1, 8, 8)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    torch.manual_seed(1)
    a = net(x)
    torch.manual_seed(2)
    assert not torch.equal(a, net(x))


def test_cutout_zeroes_one_clipped_square_per_image():
    x = torch.ones(64, 2, 8, 8)
    out = cutout(x, 4, torch.Generator().manual_seed(0))
    zeros = (out == 0).all(1).sum((1, 2))  # per image, all channels alike
    assert ((zeros >= 4) & (zeros <= 16)).all() and (zeros == 16).any()
    assert torch.equal(cutout(x, 0, torch.Generator()), x)


def test_train_exports_an_onnx_equal_to_the_torch_net(tiny, paper_genotype):
    cfg = tiny("run", "train.cutout=3", "train.drop_path=0.1")
    summary = train_genotype(cfg, paper_genotype)
    model = Path(summary["model"])
    assert model == Path(cfg["out"]) / "train" / "model"
    assert sorted(p.name for p in model.iterdir()) == [
        "arch.json", "genotype.json", "model.onnx", "model.pt"]
    arch = read_exported_arch(model)
    assert arch["params"] == summary["params"] and arch["input_shape"] == [1, 1, 8, 8]
    assert 0 <= arch["test_top1"] <= 100
    net = load_exported_network(model)
    assert net.genotype == paper_genotype
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        want = net(x)

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model / "model.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    assert not isinstance(session.get_inputs()[0].shape[0], int)  # dynamic batch
    (got,) = session.run(["logits"], {"input": x.numpy()})
    assert float(np.abs(got - want.numpy()).max()) <= 1e-4
    # the export matches the trained network
    state = torch.load(Path(cfg["out"]) / "train" / "checkpoint.pt", weights_only=True)
    for k, v in net.state_dict().items():
        assert torch.equal(v, state["model"][k]), k
    with pytest.raises(SlimnasError, match="not empty"):
        train_genotype(cfg, paper_genotype)


def test_train_resume_is_bit_exact(tiny, paper_genotype):
    over = ("train.epochs=2", "train.onnx=false", "train.drop_path=0.3", "train.cutout=2",
            "train.batch_size=512")
    straight = tiny("a", *over)
    train_genotype(straight, paper_genotype)
    resumed = tiny("b", *over)
    with pytest.raises(TrainInterrupted):
        train_genotype(resumed, paper_genotype, interrupt_at_step=3)  # 2 steps an epoch
    train_genotype(resumed, paper_genotype, resume=True)
    a = torch.load(Path(straight["out"]) / "train" / "checkpoint.pt", weights_only=True)
    b = torch.load(Path(resumed["out"]) / "train" / "checkpoint.pt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_divergence_stops_training_with_one_line(tiny, paper_genotype):
    from slimnas.errors import SlimnasError

    cfg = tiny("nan", "train.lr=1e12", "train.grad_clip=0")
    with pytest.raises(SlimnasError) as e:
        train_genotype(cfg, paper_genotype)
    msg = str(e.value)
    assert "diverged" in msg and "train.lr" in msg and "\n" not in msg
