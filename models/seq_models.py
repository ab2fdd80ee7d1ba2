"""Sequence and attention reference models (exported by models/export_seq.py): recurrent
classifiers (LSTM, GRU), a torch.nn.TransformerEncoder, a small ViT written out in plain torch, and
tiny BERT / GPT-2 encoders from the `transformers` library. Small configurations, random weights
made realistic: no parameter is left at a constant initial value (LayerNorm scales and every bias
are perturbed) and the attention projections are large enough that the heads do not average
uniformly (see `realistic_`).

Each family: name -> (factory, cases, input names, output names, dynamic axes, notes, data note).
"""
import math

import numpy as np
import torch
from torch import nn

FEATURES, HIDDEN, CLASSES = 16, 32, 10
D_MODEL, HEADS, FFN = 64, 4, 128
VOCAB = 100


def realistic_(model, seed):
    """Perturbs the parameters a fresh model leaves at a constant (LayerNorm scale 1, zero biases)
    so that no broadcast or fused bias path is exercised with zeros only."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() != 1:
                continue
            flat = p.detach().flatten()
            if flat.numel() > 1 and float(flat.std()) > 1e-6:
                continue  # already random
            if torch.allclose(p, torch.ones_like(p)):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(p + 0.1 * torch.randn(p.shape, generator=g))
    return model


# ---------------------------------------------------------------------------------------------
# Recurrent classifiers.

class LSTMClassifier(nn.Module):
    """x [batch, seq, 16] -> 2-layer bidirectional LSTM (hidden 32, zero initial states) -> the last
    time step's features (forward direction's final state, backward direction's first output)
    -> Linear -> logits [batch, 10]."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(FEATURES, HIDDEN, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(2 * HIDDEN, CLASSES)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1, :])


class GRUClassifier(nn.Module):
    """x [batch, seq, 16], h0 [4, batch, 32] (the initial states as an input) -> 2-layer
    bidirectional GRU -> Linear on the last step, and the final hidden states."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(FEATURES, HIDDEN, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(2 * HIDDEN, CLASSES)

    def forward(self, x, h0):
        y, h = self.rnn(x, h0)
        return self.fc(y[:, -1, :]), h


# ---------------------------------------------------------------------------------------------
# Attention.

class TransformerEncoderClassifier(nn.Module):
    """x [batch, seq, 64] -> nn.TransformerEncoder (2 x post-norm layer, d_model 64, 4 heads, FFN 128,
    GELU; no mask) -> mean over the sequence -> Linear -> logits [batch, 10]."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=D_MODEL, nhead=HEADS, dim_feedforward=FFN, dropout=0.0,
                                           batch_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.fc = nn.Linear(D_MODEL, CLASSES)

    def forward(self, x):
        return self.fc(self.encoder(x).mean(dim=1))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.scale = self.head_dim ** -0.5
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        q = self.q(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        v = self.v(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTSmall(nn.Module):
    """image [batch, 3, 32, 32] -> Conv2d patch embedding (patch 8: 16 patches of 64) + class token +
    learned position embedding -> 2 pre-norm blocks (explicit multi-head self attention, 4 heads;
    MLP 128 with GELU) -> LayerNorm -> Linear on the class token -> logits [batch, 10]."""

    def __init__(self, image=32, patch=8, dim=D_MODEL, heads=HEADS, mlp=FFN, depth=2):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        n = (image // patch) ** 2
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.5)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, CLASSES)

    def forward(self, image):
        x = self.patch(image).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


# ---------------------------------------------------------------------------------------------
# transformers models (tiny configurations, eager attention).

def _bert_config():
    from transformers import BertConfig
    return BertConfig(vocab_size=VOCAB, hidden_size=D_MODEL, num_hidden_layers=2, num_attention_heads=HEADS,
                      intermediate_size=FFN, max_position_embeddings=128, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0, initializer_range=0.15,
                      attn_implementation="eager")


def _gpt2_config():
    from transformers import GPT2Config
    return GPT2Config(vocab_size=VOCAB, n_embd=D_MODEL, n_layer=2, n_head=HEADS, n_inner=FFN, n_positions=128,
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.15, use_cache=False,
                      bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1, attn_implementation="eager")


class BertSmall(nn.Module):
    """input_ids [batch, seq] int64, attention_mask [batch, seq] int64 -> BertModel (no pooler) ->
    last_hidden_state [batch, seq, 64]."""

    def __init__(self):
        super().__init__()
        from transformers import BertModel
        self.bert = BertModel(_bert_config(), add_pooling_layer=False)

    def forward(self, input_ids, attention_mask):
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class GPT2Small(nn.Module):
    """input_ids [batch, seq] int64 -> GPT2Model (causal self attention, no cache) ->
    last_hidden_state [batch, seq, 64]. The attention mask given to GPT2Model is all ones, made
    inside forward: without a mask, transformers' create_causal_mask looks for packed sequences in
    the position ids with torch.diff, which the TorchScript exporter cannot export (aten::diff at
    opset 17); with a mask it does not (the same causal attention)."""

    def __init__(self):
        super().__init__()
        from transformers import GPT2Model
        self.gpt2 = GPT2Model(_gpt2_config())

    def forward(self, input_ids):
        return self.gpt2(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                         use_cache=False).last_hidden_state


def make(cls, seed):
    def f():
        torch.manual_seed(seed)
        return realistic_(cls(), seed + 1000).eval()
    return f


def transformers_version():
    try:
        import transformers
        return transformers.__version__
    except ImportError:
        return "not installed"


# ---------------------------------------------------------------------------------------------
# Test cases: two sets per model, different batch and sequence lengths.

SHAPES = [(2, 12), (3, 7)]  # (batch, seq) of set 0 (the export example) and set 1


def float_cases(seed, last):
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((b, s, last)).astype(np.float32)} for b, s in SHAPES]


def gru_cases(seed):
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((b, s, FEATURES)).astype(np.float32),
             "h0": (0.5 * rng.standard_normal((4, b, HIDDEN))).astype(np.float32)} for b, s in SHAPES]


def image_cases(seed):
    rng = np.random.default_rng(seed)
    return [{"image": rng.standard_normal((b, 3, 32, 32)).astype(np.float32)} for b, _ in SHAPES]


def id_cases(seed, mask):
    """Token ids uniform in [0, VOCAB); with `mask`, an attention mask of ones whose rows after the
    first end in 0 .. 3 padding positions (every row keeps at least one real token)."""
    rng = np.random.default_rng(seed)
    out = []
    for b, s in SHAPES:
        c = {"input_ids": rng.integers(0, VOCAB, (b, s)).astype(np.int64)}
        if mask:
            m = np.ones((b, s), np.int64)
            for r in range(1, b):
                pad = min(r + 1, s - 1)
                m[r, s - pad:] = 0
            c["attention_mask"] = m
        out.append(c)
    return out


BS = {0: "batch", 1: "seq"}

FAMILIES = [
    ("lstm_classifier", make(LSTMClassifier, 11), float_cases(201, FEATURES), ["x"], ["logits"],
     {"x": BS, "logits": {0: "batch"}},
     "nn.LSTM(16 -> 32, 2 layers, bidirectional, batch_first), zero initial states (none given), "
     "Linear(64 -> 10) on the last time step",
     "N(0, 1) features [batch, seq, 16] (batch and seq axes dynamic)"),
    ("gru_classifier", make(GRUClassifier, 12), gru_cases(202), ["x", "h0"], ["logits", "h_n"],
     {"x": BS, "h0": {1: "batch"}, "logits": {0: "batch"}, "h_n": {1: "batch"}},
     "nn.GRU(16 -> 32, 2 layers, bidirectional, batch_first) with the initial states h0 [4, batch, 32] "
     "as an input, Linear(64 -> 10) on the last time step; outputs logits and the final states h_n",
     "N(0, 1) features [batch, seq, 16], h0 N(0, 0.25) (batch and seq axes dynamic)"),
    ("transformer_encoder", make(TransformerEncoderClassifier, 13), float_cases(203, D_MODEL), ["x"],
     ["logits"], {"x": BS, "logits": {0: "batch"}},
     "nn.TransformerEncoder: 2 x nn.TransformerEncoderLayer(d_model 64, 4 heads, FFN 128, GELU, post-norm, "
     "batch_first), no masks; mean over the sequence; Linear(64 -> 10); exported and run in eager with "
     "torch.backends.mha.set_fastpath_enabled(False): in eval under no_grad the layer otherwise takes the fused "
     "aten::_transformer_encoder_layer_fwd, which the TorchScript exporter cannot export at opset 17",
     "N(0, 1) features [batch, seq, 64] (batch and seq axes dynamic)"),
    ("vit_small", make(ViTSmall, 14), image_cases(204), ["image"], ["logits"],
     {"image": {0: "batch"}, "logits": {0: "batch"}},
     "plain-torch ViT: Conv2d patch embedding (32x32 image, patch 8, dim 64), class token, learned "
     "position embedding, 2 pre-norm blocks (LayerNorm, q/k/v Linear, 4 heads, q @ k^T * scale, softmax, "
     "@ v, projection; LayerNorm, MLP 128 with GELU), final LayerNorm, Linear(64 -> 10) on the class token",
     "random N(0, 1) images [batch, 3, 32, 32] (batch axis dynamic)"),
]


def transformers_families():
    tv = transformers_version()
    return [
        ("bert_small", make(BertSmall, 15), id_cases(205, True), ["input_ids", "attention_mask"],
         ["last_hidden_state"],
         {"input_ids": BS, "attention_mask": BS, "last_hidden_state": BS},
         f"transformers {tv} BertModel (no pooler): vocab 100, hidden 64, 2 layers, 4 heads, intermediate 128, "
         "128 positions, eager attention, initializer_range 0.15; token_type_ids left to their zero default",
         "token ids uniform in [0, 100), attention mask of ones with 0-3 trailing padding positions in rows "
         "after the first (batch and seq axes dynamic)"),
        ("gpt2_small", make(GPT2Small, 16), id_cases(206, False), ["input_ids"], ["last_hidden_state"],
         {"input_ids": BS, "last_hidden_state": BS},
         f"transformers {tv} GPT2Model: vocab 100, n_embd 64, 2 layers, 4 heads, n_inner 128, 128 positions, "
         "eager attention (causal), no cache, initializer_range 0.15; an all-ones attention mask built in forward "
         "(without one, transformers' packed-sequence detection uses torch.diff: aten::diff has no TorchScript "
         "ONNX export at opset 17)",
         "token ids uniform in [0, 100) (batch and seq axes dynamic)"),
    ]
