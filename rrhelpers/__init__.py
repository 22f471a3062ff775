"""rrhelpers: the helper package of the robust-reps book (robust models, one solver, objectives, training, data)."""

from .activations import Activations
from .attacks import pgd_attack
from .claims import check_claim
from .checkpoints import CheckpointError, load_model_file, save_model
from .data import DatasetNotFoundError, ImageDataset, load_dataset
from .evaluation import accuracy, apgd_robust, evaluate
from .wrapping import wrap_classifier
from .inverter import FeedforwardInverter
from .inverter_training import InverterConfig, load_inverter, train_inverter
from .kit import ChapterKit, chapter_kit
from .models import RobustModel, eval_mode
from .objectives import (
    ClippedCoordinate,
    Coordinate,
    CoordinateSum,
    CrossEntropy,
    Logit,
    Margin,
    Objective,
    PixelDistance,
    RandomlyTransformed,
    RepresentationDistance,
)
from .problems import solve
from .published import PUBLISHED
from .profiles import PROFILES, chapter_settings, get_profile
from .solver import L2Ball, LinfBall, SolverResult, Unconstrained, make_constraint, optimize
from .training import AttackConfig, EarlyStopping, TrainConfig, TrainResult, fast_adversarial_training, train
from .validation import InputError, check_images
from .zoo import RECIPES, load_model

__version__ = "0.1.0"

__all__ = [
    "Activations",
    "AttackConfig",
    "ChapterKit",
    "CheckpointError",
    "ClippedCoordinate",
    "Coordinate",
    "CoordinateSum",
    "CrossEntropy",
    "DatasetNotFoundError",
    "EarlyStopping",
    "ImageDataset",
    "FeedforwardInverter",
    "InputError",
    "InverterConfig",
    "L2Ball",
    "LinfBall",
    "Logit",
    "Margin",
    "Objective",
    "PixelDistance",
    "PUBLISHED",
    "RandomlyTransformed",
    "RECIPES",
    "RepresentationDistance",
    "RobustModel",
    "SolverResult",
    "TrainConfig",
    "TrainResult",
    "Unconstrained",
    "accuracy",
    "apgd_robust",
    "check_claim",
    "check_images",
    "eval_mode",
    "evaluate",
    "fast_adversarial_training",
    "load_dataset",
    "load_inverter",
    "load_model",
    "load_model_file",
    "make_constraint",
    "optimize",
    "PROFILES",
    "chapter_kit",
    "chapter_settings",
    "get_profile",
    "pgd_attack",
    "save_model",
    "solve",
    "train",
    "train_inverter",
    "wrap_classifier",
]
