"""rrhelpers: the helper package of the robust-reps book (robust models, one solver, objectives, training, data).

Everything a chapter calls is here, ``rr.<name>``: the paper's problems (``rr.invert``, ``rr.visualize``,
``rr.add_feature``, ...), the measures and judges, data sampling, style transfer and layer robustness, synthesis.
The modules behind it come in four groups, with the foundations they share (``data``, ``cache``, ``validation``)
at the top: ``networks`` (what a model is and where its weights come from), ``optimization`` (the one solver and
the problems it solves), ``learning`` (training, inverters, evaluation) and ``book`` (settings, judges, claims,
plots and widgets; chapters import ``rrhelpers.book.plots`` and ``widgets`` themselves, as they draw).
"""

from .data import (DatasetNotFoundError, ImageDataset, ImagePairs, crossed_pairs, load_dataset, out_of_distribution,
                   photo_tensor, random_pairs, sample, shift_horizontally)
from .validation import InputError, check_images
from .networks.checkpoints import CheckpointError, load_model_file, save_model
from .networks.models import RobustModel, eval_mode
from .networks.published import PUBLISHED
from .networks.wrapping import wrap_classifier
from .networks.zoo import RECIPES, load_model, trained_on
from .optimization.activations import Activations, stage_layers
from .optimization.attacks import pgd_attack
from .optimization.layer_robustness import layer_robustness, rf_difference
from .optimization.objectives import (
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
from .optimization.problems import solve
from .optimization.representations import (
    accentuate,
    accentuation_gains,
    add_feature,
    choose_coordinates,
    extreme_images,
    input_gradient,
    interpolate,
    interpolation_measures,
    InterpolationMeasures,
    invert,
    invert_together,
    match_representation,
    noise_seeds,
    object_energy_share,
    path_progress,
    pixel_blend,
    top_image_alignment,
    top_weighted_coordinates,
    visualize,
    visualize_class,
)
from .optimization.solver import (L2Ball, LinfBall, Snapshots, SolverResult, Unconstrained, make_constraint,
                                  optimize)
from .optimization.style import (StyleResult, high_frequency_share, relative_style_distance, style_transfer,
                                 untrained_judges)
from .optimization.synthesis import ClassConditionalGaussian, generate, inpaint, square_masks
from .learning.evaluation import (Ghosting, accuracy, apgd_robust, bootstrap_mean_ci, evaluate, ghosting,
                                  horizontal_centre, inversion_measures, knn_predict, masked_rms_error,
                                  nearest_distance, shuffled_by_correctness, ssim)
from .learning.inverter import FeedforwardInverter, classifier_condition
from .learning.inverter_training import InverterConfig, load_inverter, train_inverter
from .learning.training import AttackConfig, EarlyStopping, TrainConfig, TrainResult, fast_adversarial_training, train
from .book.claims import check_claim
from .book.judges import content_judge, content_judges, recognised
from .book.kit import ChapterKit, chapter_kit
from .book.profiles import PROFILES, chapter_settings, get_profile

__version__ = "0.1.0"

__all__ = [
    "accentuate",
    "accentuation_gains",
    "accuracy",
    "Activations",
    "add_feature",
    "apgd_robust",
    "AttackConfig",
    "bootstrap_mean_ci",
    "chapter_kit",
    "chapter_settings",
    "ChapterKit",
    "check_claim",
    "check_images",
    "CheckpointError",
    "choose_coordinates",
    "ClassConditionalGaussian",
    "classifier_condition",
    "ClippedCoordinate",
    "content_judge",
    "content_judges",
    "Coordinate",
    "CoordinateSum",
    "crossed_pairs",
    "CrossEntropy",
    "DatasetNotFoundError",
    "EarlyStopping",
    "eval_mode",
    "evaluate",
    "extreme_images",
    "fast_adversarial_training",
    "FeedforwardInverter",
    "generate",
    "get_profile",
    "ghosting",
    "Ghosting",
    "high_frequency_share",
    "horizontal_centre",
    "ImageDataset",
    "ImagePairs",
    "inpaint",
    "input_gradient",
    "InputError",
    "interpolate",
    "interpolation_measures",
    "InterpolationMeasures",
    "inversion_measures",
    "invert",
    "invert_together",
    "InverterConfig",
    "knn_predict",
    "L2Ball",
    "layer_robustness",
    "LinfBall",
    "load_dataset",
    "load_inverter",
    "load_model",
    "load_model_file",
    "Logit",
    "make_constraint",
    "Margin",
    "masked_rms_error",
    "match_representation",
    "nearest_distance",
    "noise_seeds",
    "object_energy_share",
    "Objective",
    "optimize",
    "out_of_distribution",
    "path_progress",
    "pgd_attack",
    "photo_tensor",
    "pixel_blend",
    "PixelDistance",
    "PROFILES",
    "PUBLISHED",
    "random_pairs",
    "RandomlyTransformed",
    "RECIPES",
    "recognised",
    "relative_style_distance",
    "RepresentationDistance",
    "rf_difference",
    "RobustModel",
    "sample",
    "save_model",
    "shift_horizontally",
    "shuffled_by_correctness",
    "Snapshots",
    "solve",
    "SolverResult",
    "square_masks",
    "ssim",
    "stage_layers",
    "style_transfer",
    "StyleResult",
    "top_image_alignment",
    "top_weighted_coordinates",
    "train",
    "train_inverter",
    "TrainConfig",
    "trained_on",
    "TrainResult",
    "Unconstrained",
    "untrained_judges",
    "visualize",
    "visualize_class",
    "wrap_classifier",
]
