"""Step plans, micro-batches, packing isolation and the loss that runs only at trained positions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from curate.errors import TrainError
from curate.train.batching import check_targets, collate, micro_batches, plan_steps
from curate.train.cache import tokenize
from curate.train.loss import batch_loss, linear_cross_entropy, register_varlen


@pytest.fixture(scope="module")
def examples(tokenizer, chitchat_df, tmp_path_factory):
    torch.set_num_threads(1)
    return tokenize(
        chitchat_df.head(24),
        tokenizer,
        max_len=128,
        last_turn_only=False,
        cache_dir=tmp_path_factory.mktemp("tok"),
    )


def test_plan_covers_every_example_each_epoch_and_is_seeded():
    lengths = np.arange(10, 33)
    steps = plan_steps(lengths, batch_size=4, epochs=2, max_steps=None, seed=3)
    flat = np.concatenate(steps)
    assert len(flat) == 46 and sorted(flat[:23]) == list(range(23)) and sorted(flat[23:]) == list(range(23))
    assert len(steps[-1]) == 2  # the short last step is kept, not dropped
    again = plan_steps(lengths, batch_size=4, epochs=2, max_steps=None, seed=3)
    assert all((a == b).all() for a, b in zip(steps, again, strict=False))
    other = plan_steps(lengths, batch_size=4, epochs=2, max_steps=None, seed=4)
    assert any((a != b).any() for a, b in zip(steps, other, strict=False))
    assert len(plan_steps(lengths, batch_size=4, epochs=1, max_steps=30, seed=3)) == 30  # repeats epochs


def test_micro_batches_respect_the_token_budget():
    lengths = np.array([100, 90, 80, 60, 50, 40, 30, 300])
    step = np.arange(8)
    packed = micro_batches(step, lengths, micro_batch_tokens=200, packing=True)
    assert sorted(i for g in packed for i in g) == list(range(8))
    assert all(sum(lengths[g]) <= 200 for g in packed if len(g) > 1)
    assert [7] in packed  # longer than the budget: alone
    padded = micro_batches(step, lengths, micro_batch_tokens=200, packing=False)
    assert all(len(g) * max(lengths[g]) <= 200 for g in padded if len(g) > 1)


def test_pad_tokens_and_prompts_never_carry_loss(examples):
    idx = [0, 1, 2]
    b = collate(examples, idx, packing=False, pad_id=2, varlen=False)
    flat_attn = b.attention_mask.reshape(-1)
    pred_next = b.pred_index + 1  # the position of each predicted token
    assert bool(flat_attn[pred_next].all())  # every target is a real token
    assert b.n_targets == sum(int(examples.mask(i)[1:].sum()) for i in idx)
    assert b.n_tokens == sum(len(examples.ids(i)) for i in idx)
    p = collate(examples, idx, packing=True, pad_id=2, varlen=True)
    assert torch.equal(p.targets, b.targets)  # same targets in the same order, packed or padded
    assert p.input_ids.shape == (1, b.n_tokens) and p.cu_seqlens.tolist()[-1] == b.n_tokens


def _per_example_logits(model, ds, idx):
    out = []
    for i in idx:
        ids = torch.from_numpy(ds.ids(i).astype(np.int64))[None]
        out.append(model(input_ids=ids, use_cache=False).logits[0])
    return out


@pytest.mark.parametrize("attn", ["varlen", "block_mask"])
def test_packed_logits_equal_unpacked(examples, make_model, attn):
    model = make_model().eval()
    idx = [0, 1, 2, 3]
    with torch.no_grad():
        alone = _per_example_logits(model, examples, idx)
        if attn == "varlen":
            model.set_attn_implementation(register_varlen())
        b = collate(examples, idx, packing=True, pad_id=2, varlen=attn == "varlen")
        kw = (
            {
                "cu_seq_lens_q": b.cu_seqlens,
                "cu_seq_lens_k": b.cu_seqlens,
                "max_length_q": b.max_seqlen,
                "max_length_k": b.max_seqlen,
            }
            if attn == "varlen"
            else {}
        )
        packed = model(input_ids=b.input_ids, position_ids=b.position_ids, use_cache=False, **kw).logits[0]
    off = 0
    for x in alone:
        assert torch.allclose(packed[off : off + len(x)], x, atol=1e-4), "attention leaked across examples"
        off += len(x)


def test_batch_loss_matches_the_reference_cross_entropy(examples, make_model):
    model = make_model().eval()
    idx = [4, 5, 6]
    ref_sum, count = 0.0, 0
    with torch.no_grad():
        for i, logits in zip(idx, _per_example_logits(model, examples, idx), strict=False):
            ids = torch.from_numpy(examples.ids(i).astype(np.int64))
            m = torch.from_numpy(examples.mask(i).astype(bool))
            labels = torch.where(m, ids, -100)[1:]
            ref_sum += float(F.cross_entropy(logits[:-1], labels, ignore_index=-100, reduction="sum"))
            count += int(m[1:].sum())
        model.set_attn_implementation(register_varlen())
        packed = batch_loss(model, collate(examples, idx, packing=True, pad_id=2, varlen=True))
        model.set_attn_implementation("sdpa")
        padded = batch_loss(model, collate(examples, idx, packing=False, pad_id=2, varlen=False))
    assert float(packed) == pytest.approx(ref_sum, rel=1e-5)
    assert float(padded) == pytest.approx(ref_sum, rel=1e-5)
    assert count > 0


def test_linear_cross_entropy_value_and_gradients():
    torch.manual_seed(0)
    h = torch.randn(37, 16, requires_grad=True)
    w = torch.randn(50, 16, requires_grad=True)
    b = torch.randn(50, requires_grad=True)
    y = torch.randint(0, 50, (37,))
    ours = linear_cross_entropy(h, w, y, bias=b, chunk_rows=8)
    (ours * 0.5).backward()
    grads = [t.grad.clone() for t in (h, w, b)]
    for t in (h, w, b):
        t.grad = None
    ref = F.cross_entropy(h @ w.T + b, y, reduction="sum")
    (ref * 0.5).backward()
    assert float(ours.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    for g, t in zip(grads, (h, w, b), strict=False):
        assert torch.allclose(g, t.grad, atol=1e-5)


def test_refuses_a_step_without_trained_tokens():
    with pytest.raises(TrainError, match="no trained token"):
        check_targets([np.array([0, 1]), np.array([2])], np.array([3, 1, 0]))
    with pytest.raises(TrainError, match="no training examples"):
        plan_steps(np.array([], dtype=np.int64), batch_size=2, epochs=1, max_steps=None, seed=0)
