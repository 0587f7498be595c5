import torch
from conftest import tiny_config

from slimnas.data import channel_stats, load_split, to_float
from slimnas.width.context import build_context


def test_context_holds_the_normalised_training_and_held_out_parts(tmp_path):
    cfg = tiny_config(tmp_path)
    ctx = build_context(cfg, torch.device("cpu"), recal_batches=1)
    train, held = load_split(cfg)
    mean, std = channel_stats(train)
    assert (ctx.mean, ctx.std) == (mean, std)
    assert torch.equal(ctx.train_x, to_float(train.x, mean, std))
    assert torch.equal(ctx.held_x, to_float(held.x, mean, std))
    assert torch.equal(ctx.train_y, train.y) and torch.equal(ctx.held_y, held.y)
    assert len(ctx.recal_x) == cfg["score"]["batch_size"] == len(ctx.recal_y)


def test_context_follows_the_data_subset(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg["data"]["subset"] = 300
    ctx = build_context(cfg, torch.device("cpu"), recal_batches=1)
    assert len(ctx.train_y) + len(ctx.held_y) == 300
