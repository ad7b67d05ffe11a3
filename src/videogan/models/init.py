"""The paper's initialisation: zero-mean Gaussian weights with std 0.01 (section 2.3).

BatchNorm scales follow DCGAN.torch, on which the released code is built: N(1, 0.02), shift 0.
"""
from torch import nn

_CONVS = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)
_NORMS = (nn.BatchNorm2d, nn.BatchNorm3d)


def init_weights(module: nn.Module, std: float = 0.01) -> None:
    for m in module.modules():
        if isinstance(m, _CONVS):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _NORMS) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
