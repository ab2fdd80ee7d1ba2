"""Small CNNs in plain torch.nn (no torchvision): the convolution / pooling / batch-norm reference
models. Each is tiny (well under 2 MB of weights) and takes [batch, 3, H, W] images.

- ResNetSmall: a stem conv + BN + ReLU + MaxPool, two stages of BasicBlocks (3x3 conv, BN, ReLU,
  3x3 conv, BN, + identity or a strided 1x1 conv + BN projection, ReLU), GlobalAveragePool, Linear.
- MobileNetSmall: MobileNet-style depthwise separable blocks (depthwise 3x3 conv + BN + ReLU6, pointwise
  1x1 conv + BN + HardSwish), an inverted residual with a skip connection, AveragePool with
  count_include_pad, GlobalAveragePool, Linear.
- SqueezeNetSmall: SqueezeNet fire modules (1x1 squeeze + ReLU, then 1x1 and 3x3 expands + ReLU,
  concatenated), MaxPool with ceil_mode, a dilated conv, a LeakyReLU and a SiLU, GlobalAveragePool.

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
]
