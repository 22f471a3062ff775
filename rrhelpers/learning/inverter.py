"""Feedforward inversion of a classifier (chapter 9; Teterwak et al., ICML 2021), scaled to the profile.

A conditional generator maps what a frozen classifier outputs for an image (its logits, or its representation
R(x)) plus noise back to an image, in one forward pass. As in the paper's BigGAN-based model, the condition enters
every upsampling block through conditional batch normalisation (gains and biases predicted from the condition and
the noise), where BigGAN uses a class embedding. A projection discriminator with spectral normalisation, conditioned
on the same vector, supplies the optional adversarial loss. Conditions are standardised with statistics of the
training set, so logits of very different scales (standard models are more confident) enter alike. After the model
comes what chapter 9 does with it: edits of a condition before decoding, and measures of what a condition keeps
(position and brightness; what a judge reads in the reconstructions of a classifier's mistakes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..data import shifted_and_dimmed
from ..networks.checkpoints import read_safetensors, write_safetensors
from ..networks.models import RobustModel, eval_mode
from .evaluation import horizontal_centre

FORMAT = "rrhelpers-inverter/1"
CONDITIONS = ("logits", "representation")


@torch.no_grad()
def classifier_condition(classifier: RobustModel, images: torch.Tensor, kind: str = "logits",
                         batch_size: int = 256) -> torch.Tensor:
    """What the inverter sees of ``images``: the classifier's logits or its representation R(x), in eval mode."""
    if kind not in CONDITIONS:
        raise ValueError(f"condition must be one of {CONDITIONS}; got {kind!r}")
    outputs = []
    with eval_mode(classifier):
        for i in range(0, len(images), batch_size):
            logits, rep = classifier.forward_both(images[i : i + batch_size].to(classifier.device))
            outputs.append(logits if kind == "logits" else rep)
    return torch.cat(outputs)


def upsampling_layout(size: int, min_start: int = 4) -> tuple[int, int]:
    """(start resolution, number of 2x upsamplings) with start * 2**n == size and start >= ``min_start``:
    28 -> (7, 2), 32 -> (4, 3), 224 -> (7, 5)."""
    if size < min_start:
        raise ValueError(f"image size {size} is below the generator's smallest start resolution {min_start}")
    n = 0
    while size % 2 ** (n + 1) == 0 and size // 2 ** (n + 1) >= min_start:
        n += 1
    return size // 2**n, n


class ConditionalBatchNorm(nn.Module):
    """BatchNorm without its own affine parameters; gain 1 + g(y) and bias b(y) are linear in the condition y."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels)
        self.bias = nn.Linear(cond_dim, channels)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * (1 + self.gain(y))[:, :, None, None] + self.bias(y)[:, :, None, None]


class GeneratorBlock(nn.Module):
    """BigGAN's residual up-block: CBN, ReLU, 2x nearest upsampling, 3x3 conv, CBN, ReLU, 3x3 conv; 1x1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int):
        super().__init__()
        self.bn1 = ConditionalBatchNorm(in_channels, cond_dim)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.bn2 = ConditionalBatchNorm(out_channels, cond_dim)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class Generator(nn.Module):
    """(condition (B, k), noise (B, noise_dim)) -> images (B, channels, size, size) in [0, 1].

    The standardised condition is embedded linearly and concatenated with the noise; that vector drives a linear
    map to the start grid and the conditional batch norms of every block.
    """

    def __init__(self, cond_dim: int, channels: int, size: int, width: int = 64, noise_dim: int = 16,
                 embed_dim: int = 128):
        super().__init__()
        self.cond_dim, self.channels, self.size, self.noise_dim = cond_dim, channels, size, noise_dim
        self.width, self.embed_dim = width, embed_dim
        self.start, ups = upsampling_layout(size)
        widths = [width * 2 ** max(ups - i, 0) for i in range(ups + 1)]
        self.register_buffer("cond_mean", torch.zeros(cond_dim))
        self.register_buffer("cond_std", torch.ones(cond_dim))
        self.embed = nn.Linear(cond_dim, embed_dim)
        y_dim = embed_dim + noise_dim
        self.stem = nn.Linear(y_dim, widths[0] * self.start**2)
        self.blocks = nn.ModuleList(GeneratorBlock(widths[i], widths[i + 1], y_dim) for i in range(ups))
        self.out_norm = nn.BatchNorm2d(widths[-1])
        self.out_conv = nn.Conv2d(widths[-1], channels, 3, padding=1)

    def standardise(self, condition: torch.Tensor) -> torch.Tensor:
        return (condition - self.cond_mean) / self.cond_std

    def forward(self, condition: torch.Tensor, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        if condition.dim() != 2 or condition.shape[1] != self.cond_dim:
            raise ValueError(f"condition must be (B, {self.cond_dim}); got {tuple(condition.shape)}")
        if noise is None:
            noise = condition.new_zeros(len(condition), self.noise_dim)
        y = torch.cat([self.embed(self.standardise(condition)), noise], dim=1)
        h = self.stem(y).view(len(y), -1, self.start, self.start)
        for block in self.blocks:
            h = block(h, y)
        return torch.sigmoid(self.out_conv(F.relu(self.out_norm(h))))


class Discriminator(nn.Module):
    """Projection discriminator (Miyato & Koyama, 2018) with spectral normalisation: psi(h) + <embed(c), h>."""

    def __init__(self, cond_dim: int, channels: int, size: int, width: int = 64):
        super().__init__()
        _, downs = upsampling_layout(size)
        layers: list[nn.Module] = []
        in_ch = channels
        for i in range(downs):
            out_ch = width * 2**i
            layers += [spectral_norm(nn.Conv2d(in_ch, out_ch, 3, padding=1)), nn.LeakyReLU(0.2),
                       spectral_norm(nn.Conv2d(out_ch, out_ch, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.register_buffer("cond_mean", torch.zeros(cond_dim))
        self.register_buffer("cond_std", torch.ones(cond_dim))
        self.psi = spectral_norm(nn.Linear(in_ch, 1))
        self.embed = spectral_norm(nn.Linear(cond_dim, in_ch, bias=False))

    def forward(self, images: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        h = self.features(images * 2 - 1).sum(dim=(2, 3))
        c = (condition - self.cond_mean) / self.cond_std
        return self.psi(h)[:, 0] + (self.embed(c) * h).sum(dim=1)


class FeedforwardInverter(nn.Module):
    """A trained generator together with the kind of condition it reads (``'logits'`` or ``'representation'``).

    ``inverter.reconstruct(classifier, images)`` inverts images through the classifier it was trained for;
    ``inverter(condition)`` decodes any condition vector (e.g. manipulated logits).
    """

    def __init__(self, generator: Generator, condition: str = "logits", metadata: Optional[dict[str, Any]] = None):
        super().__init__()
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}; got {condition!r}")
        self.generator, self.condition = generator, condition
        self.metadata = dict(metadata or {})

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def noise(self, n: int, seed: Optional[int] = None) -> torch.Tensor:
        """Noise vectors for ``n`` images: zeros (the mean reconstruction) if ``seed`` is None, else N(0, 1) draws."""
        if seed is None:
            return torch.zeros(n, self.generator.noise_dim, device=self.device)
        g = torch.Generator().manual_seed(seed)
        return torch.randn(n, self.generator.noise_dim, generator=g).to(self.device)

    @torch.no_grad()
    def forward(self, condition: torch.Tensor, noise: Optional[torch.Tensor] = None,
                batch_size: int = 256) -> torch.Tensor:
        noise = self.noise(len(condition)) if noise is None else noise
        with eval_mode(self.generator):
            return torch.cat([self.generator(condition[i : i + batch_size].to(self.device),
                                             noise[i : i + batch_size].to(self.device))
                              for i in range(0, len(condition), batch_size)])

    def reconstruct(self, classifier: RobustModel, images: torch.Tensor,
                    noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One forward pass of the classifier and one of the generator per image."""
        return self(classifier_condition(classifier, images, self.condition), noise)

    def training_summary(self) -> str:
        """Its training in one line, from the recorded history: epochs, seconds and the final pixel loss."""
        history = self.metadata["history"]
        return (f"trained {len(history)} epochs in {sum(h['seconds'] for h in history):.0f} s; "
                f"final pixel loss {history[-1]['pixel']:.4f}")

    def config(self) -> dict[str, Any]:
        g = self.generator
        return {"cond_dim": g.cond_dim, "channels": g.channels, "size": g.size, "width": g.width,
                "noise_dim": g.noise_dim, "embed_dim": g.embed_dim, "condition": self.condition}

    @classmethod
    def from_config(cls, config: dict[str, Any], metadata: Optional[dict[str, Any]] = None) -> "FeedforwardInverter":
        config = dict(config)
        condition = config.pop("condition")
        return cls(Generator(**config), condition, metadata)


def scaled_conditions(condition: torch.Tensor, factors: Sequence[float]) -> torch.Tensor:
    """``condition`` (1, k) times each of ``factors``, (len(factors), k): logits made more or less confident."""
    return torch.cat([condition * s for s in factors])


def conditions_towards(condition: torch.Tensor, goal: torch.Tensor, fractions: Sequence[float]) -> torch.Tensor:
    """``condition`` (1, k) moved each of ``fractions`` t of the way to ``goal``, c + t (goal - c): logits edited
    towards another class's mean logits."""
    return torch.cat([condition + t * (goal - condition) for t in fractions])


def what_survives(inverter: FeedforwardInverter, classifier: RobustModel, images: torch.Tensor,
                  shift: int) -> dict[str, float]:
    """What ``classifier``'s condition keeps of position and brightness, read off ``inverter``'s reconstructions
    of :func:`~rrhelpers.data.shifted_and_dimmed` probes: the mean horizontal move (px) of the reconstructions of
    images moved left (``'moves left'``) and right (``'moves right'``), and the mean brightness of those of
    half-bright images relative to the unchanged ones' (``'brightness'``)."""
    recon = {k: inverter.reconstruct(classifier, v).cpu() for k, v in shifted_and_dimmed(images, shift).items()}
    base = recon["unchanged"]
    centre = horizontal_centre(base)
    moves = {side: (horizontal_centre(recon[f"shift {dx:+d} px"]) - centre).mean().item()
             for side, dx in (("moves left", -shift), ("moves right", shift))}
    return {**moves, "brightness": (recon["half brightness"].mean() / base.mean()).item()}


@dataclass(frozen=True)
class Mistakes:
    """The images a classifier gets wrong, their true and predicted labels, their reconstructions from its
    condition and the labels a judge reads in those."""

    images: torch.Tensor
    labels: torch.Tensor
    predicted: torch.Tensor
    reconstructions: torch.Tensor
    read: torch.Tensor

    @property
    def read_as_predicted(self) -> float:
        """Share of the reconstructions the judge reads as the class the classifier predicted."""
        return (self.read == self.predicted).float().mean().item()

    @property
    def read_as_true(self) -> float:
        """Share of the reconstructions the judge reads as the image's true class."""
        return (self.read == self.labels).float().mean().item()


def reconstructed_mistakes(inverter: FeedforwardInverter, classifier: RobustModel, images: torch.Tensor,
                           labels: torch.Tensor, judge: Callable[[torch.Tensor], torch.Tensor]) -> Mistakes:
    """:class:`Mistakes` of ``classifier`` on ``images``: does a reconstruction show what it saw or what was there?"""
    predicted = classifier.predict(images).cpu()
    wrong = (predicted != labels).nonzero()[:, 0]
    recon = inverter.reconstruct(classifier, images[wrong]).cpu()
    return Mistakes(images[wrong], labels[wrong], predicted[wrong], recon, judge(recon).cpu())


def save_inverter(inverter: FeedforwardInverter, path: str | Path) -> Path:
    """Write the generator's weights, config and metadata to a safetensors file, atomically."""
    return write_safetensors(path, inverter.generator.state_dict(), inverter.config(), inverter.metadata, FORMAT)


def load_inverter_file(path: str | Path, device: str | torch.device = "cpu") -> FeedforwardInverter:
    """Rebuild a :class:`FeedforwardInverter` from a file written by :func:`save_inverter`."""
    state, config, metadata = read_safetensors(path, FORMAT)
    inverter = FeedforwardInverter.from_config(config, metadata)
    inverter.generator.load_state_dict(state)
    return inverter.to(device).eval()
