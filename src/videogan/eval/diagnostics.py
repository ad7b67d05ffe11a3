"""Cheap diagnostics of generated videos, for the questions the paper asks of its two streams.

All take videos as b 3 t h w tensors in [-1, 1] (a mask as b 1 t h w in [0, 1]) and return floats.

- mask_motion: does the mask cover what moves? Mean of m over pixels that change between frames
  versus over pixels that do not (section 2.2: m should select the foreground where there is motion).
- mask_location: is the mask where real videos move? The generated masks' mean map (over videos and
  frames) against the real videos' mean frame-difference map M: their Pearson correlation over pixels, and
  the mask's mean weighted by M (where real videos move) and by max(M) - M (where they are still).
  `mask_motion` alone is fooled by a generator whose motion is a flickering background under a mask on
  the background; this compares with where the *real* foreground is.
- static_flicker: how much do the pixels that should be static flicker? Per video, the half of the
  pixels with the least temporal variance is taken as "should be static"; the score is their mean
  absolute frame-to-frame change (section 3.2: the one-stream model "produces high-frequency temporal
  flickering in the background").
- motion_energy: the mean absolute frame-to-frame change of each video; generated and real
  distributions are compared with the 1-D Wasserstein distance.
- colour_distance: the 1-D Wasserstein distance between generated and real pixel values, averaged
  over the three channels.
- psnr, ssim: how well images b 3 h w are reconstructed (future generation: the generated first frame
  against the input), on the [0, 1] scale; SSIM is Wang et al. (2004) with an 11x11 Gaussian window
  (sigma 1.5), valid positions only, averaged over channels.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import wasserstein_distance

# A pixel "changes" between frames when some channel moves by more than this, in [-1, 1] units
# (0.1 is 13 grey levels: above codec and quantisation noise, below any visible object's motion).
CHANGE_THRESHOLD = 0.1


def frame_differences(videos: torch.Tensor) -> torch.Tensor:
    """b 3 t h w -> b t-1 h w: the largest absolute channel change between consecutive frames."""
    return (videos[:, :, 1:] - videos[:, :, :-1]).abs().amax(dim=1)


def mask_motion_sums(videos: torch.Tensor, masks: torch.Tensor, threshold: float = CHANGE_THRESHOLD) -> np.ndarray:
    """[mask sum over changing pixels, their count, mask sum over unchanging pixels, their count], with the
    mask of frame t+1 against the change t -> t+1: additive over batches of videos."""
    changed = frame_differences(videos) > threshold  # b t-1 h w
    mask = masks[:, 0, 1:]  # b t-1 h w
    return np.array([mask[changed].sum().item(), changed.sum().item(), mask[~changed].sum().item(),
                     (~changed).sum().item()], dtype=np.float64)


def mask_motion_from_sums(sums: np.ndarray) -> dict:
    moving_sum, moving, still_sum, still = sums
    return {"mask_on_moving": moving_sum / moving if moving else float("nan"),
            "mask_on_static": still_sum / still if still else float("nan"),
            "moving_fraction": moving / (moving + still)}


def mask_motion(videos: torch.Tensor, masks: torch.Tensor, threshold: float = CHANGE_THRESHOLD) -> dict:
    """Mean mask over changing vs unchanging pixels."""
    return mask_motion_from_sums(mask_motion_sums(videos, masks, threshold))


def mask_map_sums(masks: torch.Tensor) -> np.ndarray:
    """b 1 t h w -> [h w sum of the mask over videos and frames, count]: additive over batches."""
    return np.concatenate([masks.sum(dim=(0, 1, 2)).flatten().double().numpy(), [masks.shape[0] * masks.shape[2]]])


def motion_map_sums(videos: torch.Tensor) -> np.ndarray:
    """b 3 t h w -> [h w sum of |frame-to-frame change| over videos and frame pairs, count]: additive."""
    diffs = frame_differences(videos)  # b t-1 h w
    return np.concatenate([diffs.sum(dim=(0, 1)).flatten().double().numpy(), [diffs.shape[0] * diffs.shape[1]]])


def mask_location(mask_sums: np.ndarray, motion_sums: np.ndarray) -> dict:
    """From `mask_map_sums` of generated masks and `motion_map_sums` of real videos of the same size."""
    mask_map, motion_map = mask_sums[:-1] / mask_sums[-1], motion_sums[:-1] / motion_sums[-1]
    if mask_map.shape != motion_map.shape:
        raise ValueError(f"mask_location needs generated and real videos of one size ({mask_map.size} vs "
                         f"{motion_map.size} pixels)")
    still_weight = motion_map.max() - motion_map
    if motion_map.std() == 0 or mask_map.std() == 0:
        correlation = float("nan")  # a constant map correlates with nothing
    else:
        correlation = float(np.corrcoef(mask_map, motion_map)[0, 1])
    return {"mask_motion_correlation": correlation,
            "mask_where_real_moves": float((mask_map * motion_map).sum() / max(motion_map.sum(), 1e-12)),
            "mask_where_real_still": float((mask_map * still_weight).sum() / max(still_weight.sum(), 1e-12))}


def static_flicker_sums(videos: torch.Tensor) -> np.ndarray:
    """[sum of |frame-to-frame change| over each video's calmest half of pixels, their count]: additive over
    batches (the calm half is chosen per video)."""
    diffs = frame_differences(videos)  # b t-1 h w
    variance = videos.var(dim=2).mean(dim=1).flatten(1)  # b (h w)
    calm = variance <= variance.median(dim=1, keepdim=True).values  # b (h w)
    per_pixel = diffs.mean(dim=1).flatten(1)  # b (h w)
    return np.array([(per_pixel * calm).sum().item(), calm.sum().item()], dtype=np.float64)


def static_flicker(videos: torch.Tensor) -> float:
    """Mean |frame-to-frame change| over each video's calmest half of pixels."""
    total, count = static_flicker_sums(videos)
    return total / count


def motion_energy(videos: torch.Tensor) -> np.ndarray:
    """Per-video mean absolute frame-to-frame change: b."""
    return frame_differences(videos).flatten(1).mean(dim=1).numpy()


def motion_energy_distance(generated: torch.Tensor | np.ndarray, real: torch.Tensor | np.ndarray) -> dict:
    """Videos b 3 t h w, or their per-video motion energies b (as `motion_energy` gives)."""
    gen, ref = (motion_energy(v) if isinstance(v, torch.Tensor) else v for v in (generated, real))
    return {"motion_energy": float(gen.mean()), "motion_energy_real": float(ref.mean()),
            "motion_energy_w1": float(wasserstein_distance(gen, ref))}


def colour_samples(videos: torch.Tensor, step: int) -> list[np.ndarray]:
    """Every `step`-th pixel value of each channel: the evenly subsampled input of `colour_distance`."""
    return [videos[:, c].flatten()[::step].numpy() for c in range(3)]


def colour_distance(generated: torch.Tensor | list[np.ndarray], real: torch.Tensor | list[np.ndarray],
                    max_values: int = 200_000) -> float:
    """Channel-averaged Wasserstein distance of pixel values: videos b 3 t h w (subsampled evenly to about
    `max_values` per channel for speed), or per-channel samples from `colour_samples`."""
    a, b = (colour_samples(v, max(1, v[:, 0].numel() // max_values)) if isinstance(v, torch.Tensor) else v
            for v in (generated, real))
    return sum(wasserstein_distance(a[c], b[c]) for c in range(3)) / 3


def psnr(images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """b 3 h w in [-1, 1] -> b: 10 log10(1 / MSE) on the [0, 1] scale (inf where identical)."""
    mse = ((images - references) / 2).square().flatten(1).mean(dim=1)
    return 10 * torch.log10(1 / mse)


def ssim(images: torch.Tensor, references: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """b 3 h w in [-1, 1] -> b, with the constants of Wang et al. (K1 0.01, K2 0.03, dynamic range 1)."""
    x, y = (images.float() + 1) / 2, (references.float() + 1) / 2
    window = min(window, x.shape[-1], x.shape[-2])
    g = torch.exp(-(torch.arange(window, dtype=torch.float32) - (window - 1) / 2).square() / (2 * sigma ** 2))
    kernel = (g[:, None] * g[None]) / g.sum() ** 2  # window window, sums to 1
    kernel = kernel.expand(x.shape[1], 1, window, window)

    def blur(t):  # per-channel local mean over valid positions
        return F.conv2d(t, kernel, groups=x.shape[1])

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y = blur(x * x) - mu_x ** 2, blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return index.flatten(1).mean(dim=1)
