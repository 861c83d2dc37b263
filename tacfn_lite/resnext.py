"""3D-ResNeXt-50 (cardinality 32) video backbone, paper size (GPU; here because torchvision cannot
be installed beside the CPU torch build). At 30 × 224² it gives a 2048 × 2 × 7 × 7 feature map,
projected to ``d_model``. Notebook 01 shows its size."""

import torch
from torch import nn

from .config import ModelConfig


class Bottleneck(nn.Module):
    """ResNeXt bottleneck: 1×1×1 reduce → grouped 3×3×3 → 1×1×1 expand, plus shortcut."""

    expansion = 2

    def __init__(self, c_in: int, planes: int, stride: int, cardinality: int = 32):
        super().__init__()
        mid = planes  # ResNeXt-50 32x4d in 3D (Hara et al.): mid width = planes
        c_out = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv3d(c_in, mid, 1, bias=False), nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
            nn.Conv3d(mid, mid, 3, stride, 1, groups=cardinality, bias=False),
            nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
            nn.Conv3d(mid, c_out, 1, bias=False), nn.BatchNorm3d(c_out))
        self.short = (nn.Identity() if stride == 1 and c_in == c_out else
                      nn.Sequential(nn.Conv3d(c_in, c_out, 1, stride, bias=False),
                                    nn.BatchNorm3d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.short(x))


class ResNeXt3D(nn.Module):
    """Shapes: ``video (B, T, 3, H, W)`` → ``(B, D, T/16, H/32, W/32)`` (as TinyVideoCNN)."""

    time_stride = 16

    def __init__(self, cfg: ModelConfig, layers: tuple[int, ...] = (3, 4, 6, 3)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(3, 64, 7, (1, 2, 2), 3, bias=False),
                                  nn.BatchNorm3d(64), nn.ReLU(inplace=True), nn.MaxPool3d(3, 2, 1))
        blocks, c_in = [], 64
        for i, (n, planes) in enumerate(zip(layers, (128, 256, 512, 1024))):
            for j in range(n):
                blocks.append(Bottleneck(c_in, planes, stride=2 if (j == 0 and i > 0) else 1))
                c_in = planes * Bottleneck.expansion
        self.blocks = nn.Sequential(*blocks)
        self.proj = nn.Conv3d(c_in, cfg.d_model, 1)  # 2048 → d_model

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        x = video.transpose(1, 2)  # (B, T, 3, H, W) → (B, 3, T, H, W) for Conv3d
        return self.proj(self.blocks(self.stem(x)))
