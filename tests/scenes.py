"""Shared by the Python picture helpers of tests/*.bats."""
import numpy as np
from PIL import Image, ImageFilter


def soft(rng, h=240, w=320):
    """Soft shapes in [0, 1]: Gaussian noise blurred by a sigma of 6."""
    im = Image.fromarray(np.uint8(np.clip(128 + 60 * rng.normal(0, 1, (h, w)), 0, 255)))
    a = np.asarray(im.filter(ImageFilter.GaussianBlur(6)), dtype=float)
    return (a - a.min()) / (a.max() - a.min())


def fine(rng, h=240, w=320):
    """A fine texture: Gaussian noise about 128 (sigma 40) blurred by 1.5."""
    im = Image.fromarray(np.uint8(np.clip(128 + 40 * rng.normal(0, 1, (h, w)), 0, 255)))
    return np.asarray(im.filter(ImageFilter.GaussianBlur(1.5)), dtype=float)


def save_grey(path, v):
    """Write v (any float array, rounded and clipped) as a grey RGB PNG."""
    Image.fromarray(np.uint8(np.clip(np.dstack([v, v, v]) + 0.5, 0, 255))).save(path)


def load_grey(path):
    """A picture's luma as floats."""
    return np.asarray(Image.open(path).convert("L"), float)
