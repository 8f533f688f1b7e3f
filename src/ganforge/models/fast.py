"""CPU fast paths for three stock layers that are slow at these models' sizes.

``speed_up(model, device)`` swaps them in for training on CPU, in place; parameter names, shapes
and the state dict stay those of the stock layers, so checkpoints do not change. The maths is the
same; only dropout's random masks come from a different draw. Measured at batch 256 with two
threads (``benchmarks/throughput.py`` has the end-to-end effect):

- ``nn.ConvTranspose2d`` with few output channels (M1's and M4's last layer, 128 -> 1 and 64 -> 1):
  oneDNN's deconvolution runs at about 6 GFLOP/s there; one matrix product into columns and a
  col2im (``F.fold``) does the same sum twice as fast, forward and backward.
- ``nn.Dropout``: the CPU ``bernoulli_`` kernel costs about 3x a uniform draw and a comparison.
- ``nn.Flatten`` on a channels-last activation: its gradient comes back in the default layout,
  and every elementwise backward below it then mixes layouts (see ``LayoutFlatten``).

The process-wide part, the allocator setting, is ``device.keep_freed_memory`` (the command line calls it).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FOLD_MAX_COLUMNS = 16
"""A transposed convolution takes the fold path when out_channels * kernel area is at most this.
Measured forward + backward, batch 64, kernel 4, stride 2: 128 -> 1 channels at 14x14, 8.4 ms stock
against 3.8 ms fold; 128 -> 3, even; 64 -> 3 at 32x32 (CelebA's last layer), 28 ms stock against
35 ms fold: wider column matrices make col2im's scatter cost more than oneDNN's kernel saves."""


class FoldConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` computed as (N*H*W, C_in) @ (C_in, C_out*kh*kw), then ``F.fold``."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if output_size is not None or x.dim() != 4:
            return super().forward(x, output_size)
        n, c, h, w = x.shape
        cols = x.permute(0, 2, 3, 1).reshape(n * h * w, c) @ self.weight.reshape(c, -1)
        cols = cols.view(n, h * w, -1).transpose(1, 2)  # (N, C_out*kh*kw, H*W), as F.fold takes it
        size = [(s - 1) * st - 2 * p + d * (k - 1) + op + 1 for s, st, p, d, k, op in
                zip((h, w), self.stride, self.padding, self.dilation, self.kernel_size, self.output_padding)]
        y = F.fold(cols, size, self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


class LayoutFlatten(nn.Flatten):
    """``nn.Flatten`` whose backward hands a channels-last input its gradient in channels-last.

    A stock flatten's gradient comes back in the default layout; every layer below it would
    then mix layouts in backward, and mixed-layout elementwise kernels (LeakyReLU's and ReLU's
    backward, BatchNorm's) run about 25x slower than same-layout ones on CPU.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4 and x.requires_grad and x.is_contiguous(memory_format=torch.channels_last) \
                and not x.is_contiguous():
            x.register_hook(lambda g: g.contiguous(memory_format=torch.channels_last))
        return super().forward(x)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with its mask from ``rand_like(x) >= p``: the same Bernoulli(1 - p) keep mask."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0
        keep = (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * keep.mul_(1 / (1 - self.p))


def _foldable(layer: nn.ConvTranspose2d) -> bool:
    area = layer.kernel_size[0] * layer.kernel_size[1]
    return (type(layer) is nn.ConvTranspose2d and layer.groups == 1 and layer.padding_mode == "zeros"
            and layer.out_channels * area <= FOLD_MAX_COLUMNS)


def speed_up(module: nn.Module, device: torch.device) -> nn.Module:
    """Swap ``module``'s slow stock layers for the fast paths above (CPU only; elsewhere a no-op)."""
    if device.type != "cpu":
        return module
    for name, child in module.named_children():
        if isinstance(child, nn.ConvTranspose2d) and _foldable(child):
            new = FoldConvTranspose2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                      child.padding, child.output_padding, child.groups, child.bias is not None,
                                      child.dilation, device=child.weight.device, dtype=child.weight.dtype)
        elif type(child) is nn.Dropout and not child.inplace:
            new = FastDropout(child.p)
        elif type(child) is nn.Flatten:
            new = LayoutFlatten(child.start_dim, child.end_dim)
        else:
            speed_up(child, device)
            continue
        new.load_state_dict(child.state_dict())
        new.train(child.training)
        setattr(module, name, new)
    return module
