"""Small CNNs in plain torch.nn (no torchvision): the convolution / pooling / batch-norm reference
models. Each is tiny (well under 2 MB of weights) and takes [batch, 3, H, W] images.

- ResNetSmall: a stem conv + BN + ReLU + MaxPool, two stages of BasicBlocks (3x3 conv, BN, ReLU,
  3x3 conv, BN, + identity or a strided 1x1 conv + BN projection, ReLU), GlobalAveragePool, Linear.
- MobileNetSmall: MobileNet-style depthwise separable blocks (depthwise 3x3 conv + BN + ReLU6, pointwise
  1x1 conv + BN + HardSwish), an inverted residual with a skip connection, AveragePool with
  count_include_pad, GlobalAveragePool, Linear.
- SqueezeNetSmall: SqueezeNet fire modules (1x1 squeeze + ReLU, then 1x1 and 3x3 expands + ReLU,
  concatenated), MaxPool with ceil_mode, a dilated conv, a LeakyReLU and a SiLU, GlobalAveragePool.
- EfficientNetSmall: EfficientNet-style MBConv blocks (1x1 expand + BN + SiLU, depthwise 3x3 / 5x5 +
  BN + SiLU, squeeze-and-excitation: global pool, 1x1 conv, SiLU, 1x1 conv, Sigmoid, times the
  feature map; 1x1 project + BN, residual where the shapes allow), 1x1 head conv, GlobalAveragePool,
  Linear.
- ShuffleNetSmall: ShuffleNetV2 units (stride 1: the channels split in half with chunk, one half
  through 1x1 conv, depthwise 3x3, 1x1 conv, concatenated with the other; stride 2: both branches),
  each followed by a channel shuffle (view into groups, transpose, reshape), MaxPool after the stem,
  GlobalAveragePool, Linear.

Batch-norm statistics come from a few forward passes in train mode on random data (make_model), so
the folded weights are not the identity.
"""
import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNetSmall(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        self.layer1 = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 16, 1))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2), BasicBlock(32, 32, 1))
        self.layer3 = nn.Sequential(BasicBlock(32, 64, 2), BasicBlock(64, 64, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class DwSeparable(nn.Module):
    def __init__(self, cin, cout, stride, skip=False):
        super().__init__()
        self.dw = nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                                nn.ReLU6())
        self.pw = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.Hardswish()
        self.skip = skip and stride == 1 and cin == cout

    def forward(self, x):
        y = self.pw(self.dw(x))
        return x + y if self.skip else self.act(y)


class MobileNetSmall(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.blocks = nn.Sequential(DwSeparable(16, 24, 1), DwSeparable(24, 24, 1, skip=True),
                                    DwSeparable(24, 48, 2), DwSeparable(48, 48, 1, skip=True),
                                    DwSeparable(48, 96, 2))
        self.avg = nn.AvgPool2d(3, 1, 1, count_include_pad=True)
        self.head = nn.Sequential(nn.Conv2d(96, 128, 1), nn.Hardsigmoid())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, classes)

    def forward(self, x):
        x = self.head(self.avg(self.blocks(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class Fire(nn.Module):
    def __init__(self, cin, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.e1 = nn.Conv2d(squeeze, expand, 1)
        self.e3 = nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x):
        s = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.e1(s)), torch.relu(self.e3(s))], 1)


class SqueezeNetSmall(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2), nn.BatchNorm2d(32), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, ceil_mode=True))
        self.fire1 = Fire(32, 16, 32)
        self.fire2 = Fire(64, 16, 32)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.fire3 = Fire(64, 24, 48)
        self.dil = nn.Sequential(nn.Conv2d(96, 64, 3, padding=2, dilation=2), nn.LeakyReLU(0.1))
        self.last = nn.Sequential(nn.Conv2d(64, 64, 1), nn.SiLU())
        self.cls = nn.Conv2d(64, classes, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.fire2(self.fire1(self.stem(x)))
        x = self.last(self.dil(self.fire3(self.pool(x))))
        return torch.flatten(self.gap(self.cls(x)), 1)


class SqueezeExcite(nn.Module):
    def __init__(self, c, reduced):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(c, reduced, 1)
        self.expand = nn.Conv2d(reduced, c, 1)

    def forward(self, x):
        s = torch.sigmoid(self.expand(nn.functional.silu(self.reduce(self.pool(x)))))
        return x * s


class MBConv(nn.Module):
    def __init__(self, cin, cout, expand, kernel, stride, se_ratio=0.25):
        super().__init__()
        mid = cin * expand
        self.expand = nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.SiLU())
        self.dw = nn.Sequential(nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False),
                                nn.BatchNorm2d(mid), nn.SiLU())
        self.se = SqueezeExcite(mid, max(1, int(cin * se_ratio)))
        self.project = nn.Sequential(nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.residual else y


class EfficientNetSmall(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
        self.blocks = nn.Sequential(MBConv(16, 16, 4, 3, 1), MBConv(16, 24, 4, 3, 2),
                                    MBConv(24, 24, 4, 5, 1), MBConv(24, 40, 4, 3, 2))
        self.head = nn.Sequential(nn.Conv2d(40, 128, 1, bias=False), nn.BatchNorm2d(128), nn.SiLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, classes)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def channel_shuffle(x, groups):
    b, c, h, w = x.size()
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        half = cout // 2
        bin_ = cin if stride == 2 else cin // 2
        if stride == 2:
            self.left = nn.Sequential(nn.Conv2d(cin, cin, 3, 2, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                                      nn.Conv2d(cin, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU())
        self.right = nn.Sequential(nn.Conv2d(bin_, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(),
                                   nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False),
                                   nn.BatchNorm2d(half),
                                   nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU())

    def forward(self, x):
        if self.stride == 1:
            a, b = x.chunk(2, dim=1)
            y = torch.cat([a, self.right(b)], 1)
        else:
            y = torch.cat([self.left(x), self.right(x)], 1)
        return channel_shuffle(y, 2)


class ShuffleNetSmall(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        self.stage2 = nn.Sequential(ShuffleUnit(24, 48, 2), ShuffleUnit(48, 48, 1), ShuffleUnit(48, 48, 1))
        self.stage3 = nn.Sequential(ShuffleUnit(48, 96, 2), ShuffleUnit(96, 96, 1))
        self.head = nn.Sequential(nn.Conv2d(96, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, classes)

    def forward(self, x):
        x = self.head(self.stage3(self.stage2(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def make_model(cls, seed, size=64):
    """The model with its batch-norm statistics from train-mode passes over random images."""
    torch.manual_seed(seed)
    m = cls()
    m.train()
    with torch.no_grad():
        for _ in range(4):
            m(torch.randn(8, 3, size, size) * 1.5 + 0.2)
    return m.eval()


FAMILIES = [
    ("resnet_small", ResNetSmall,
     "ResNet-style: conv-BN-ReLU stem, MaxPool, 3 stages of 2 BasicBlocks (BN, identity / 1x1 projection "
     "shortcuts), GlobalAveragePool, Linear"),
    ("mobilenet_small", MobileNetSmall,
     "MobileNet-style: depthwise separable blocks (depthwise 3x3 + BN + ReLU6, pointwise 1x1 + BN + "
     "HardSwish), residual skips, AveragePool(count_include_pad), 1x1 conv + HardSigmoid, "
     "GlobalAveragePool, Linear"),
    ("squeezenet_small", SqueezeNetSmall,
     "SqueezeNet-style: conv-BN-ReLU stem, MaxPool(ceil_mode), fire modules (squeeze 1x1, expand 1x1 + 3x3, "
     "concatenated), dilated 3x3 conv + LeakyReLU, 1x1 conv + SiLU, 1x1 classifier conv, GlobalAveragePool"),
    ("efficientnet_small", EfficientNetSmall,
     "EfficientNet-style: conv-BN-SiLU stem (stride 2), 4 MBConv blocks (1x1 expand x4 + BN + SiLU, "
     "depthwise 3x3 / 3x3 stride 2 / 5x5 / 3x3 stride 2 + BN + SiLU, squeeze-and-excitation: "
     "GlobalAveragePool, 1x1 conv, SiLU, 1x1 conv, Sigmoid, Mul; 1x1 project + BN, residual Add in "
     "2 of them), 1x1 head conv + BN + SiLU, GlobalAveragePool, Linear"),
    ("shufflenet_small", ShuffleNetSmall,
     "ShuffleNetV2-style: conv-BN-ReLU stem (stride 2), MaxPool, 5 units (stride 2: both branches, "
     "stride 1: chunk(2) of the channels (Split), one half through 1x1 conv + BN + ReLU, depthwise 3x3 "
     "+ BN, 1x1 conv + BN + ReLU), Concat, channel shuffle (Reshape to 2 groups, Transpose, Reshape), "
     "1x1 head conv + BN + ReLU, GlobalAveragePool, Linear"),
]
