"""rrhelpers: the helper package of the robust-reps book (robust models, one solver, objectives, training, data).

Everything a chapter calls is here, ``rr.<name>``: the paper's problems (``rr.invert``, ``rr.visualize``,
``rr.add_feature``, ...), the measures and judges, data sampling, style transfer and layer robustness, synthesis.
The modules behind it come in four groups, with the foundations they share (``data``, ``cache``, ``validation``)
at the top: ``networks`` (what a model is and where its weights come from), ``optimization`` (the one solver and
the problems it solves), ``learning`` (training, inverters, evaluation) and ``book`` (settings, judges, claims,
plots and widgets; chapters import ``rrhelpers.book.plots`` and ``widgets`` themselves, as they draw).
"""

from .data import (DatasetNotFoundError, ImageDataset, load_dataset, out_of_distribution, photo_tensor, pixel_values,
                   random_pairs, sample, shift_horizontally)
from .validation import InputError, check_images
from .networks.checkpoints import CheckpointError, load_model_file, save_model
from .networks.models import RobustModel, eval_mode
from .networks.published import PUBLISHED
from .networks.wrapping import wrap_classifier
from .networks.zoo import RECIPES, load_model, model_description, trained_on
from .optimization.activations import Activations, stage_layers, stage_name
from .optimization.attacks import pgd_attack
from .optimization.layer_robustness import layer_robustness, rf_difference, rf_table
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
    add_features,
    choose_coordinates,
    class_pictures,
    evenly_spaced_classes,
    extreme_images,
    FeatureAdditions,
    input_gradient,
    interpolate,
    invert,
    invert_together,
    match_representation,
    matching_curve,
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
from .optimization.style import (StyleResult, StyleSetup, held_out_summary, high_frequency_share,
                                 high_frequency_table, relative_style_distance, relative_style_distances,
                                 style_trade_off, style_transfer, untrained_judges)
from .optimization.synthesis import ClassConditionalGaussian, generate, generate_from_gaussian, inpaint, square_masks
from .learning.evaluation import (accuracy, apgd_robust, bootstrap_mean_ci, evaluate, horizontal_centre,
                                  inversion_measures, knn_predict, masked_rms_error, nearest_distance,
                                  shuffled_by_correctness, ssim)
from .learning.inverter import FeedforwardInverter, classifier_condition
from .learning.inverter_training import InverterConfig, load_inverter, train_inverter
from .learning.training import AttackConfig, EarlyStopping, TrainConfig, TrainResult, fast_adversarial_training, train
from .book.claims import check_claim
from .book.judges import content_judge, content_judges, inversion_scores, recognised, source_kept
from .book.kit import ChapterKit, chapter_kit
from .book.profiles import PROFILES, chapter_settings, get_profile, step_scale

__version__ = "0.1.0"

__all__ = [
    "accentuate",
    "accentuation_gains",
    "accuracy",
    "Activations",
    "add_feature",
    "add_features",
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
    "class_pictures",
    "ClassConditionalGaussian",
    "classifier_condition",
    "ClippedCoordinate",
    "content_judge",
    "content_judges",
    "Coordinate",
    "CoordinateSum",
    "CrossEntropy",
    "DatasetNotFoundError",
    "EarlyStopping",
    "eval_mode",
    "evaluate",
    "evenly_spaced_classes",
    "extreme_images",
    "fast_adversarial_training",
    "FeatureAdditions",
    "FeedforwardInverter",
    "generate",
    "generate_from_gaussian",
    "get_profile",
    "held_out_summary",
    "high_frequency_share",
    "high_frequency_table",
    "horizontal_centre",
    "ImageDataset",
    "inpaint",
    "input_gradient",
    "InputError",
    "interpolate",
    "inversion_measures",
    "inversion_scores",
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
    "model_description",
    "match_representation",
    "matching_curve",
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
    "pixel_values",
    "PixelDistance",
    "PROFILES",
    "PUBLISHED",
    "random_pairs",
    "RandomlyTransformed",
    "RECIPES",
    "recognised",
    "relative_style_distance",
    "relative_style_distances",
    "RepresentationDistance",
    "rf_difference",
    "rf_table",
    "RobustModel",
    "sample",
    "save_model",
    "shift_horizontally",
    "shuffled_by_correctness",
    "Snapshots",
    "solve",
    "SolverResult",
    "source_kept",
    "square_masks",
    "ssim",
    "stage_layers",
    "step_scale",
    "stage_name",
    "style_trade_off",
    "style_transfer",
    "StyleResult",
    "StyleSetup",
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
