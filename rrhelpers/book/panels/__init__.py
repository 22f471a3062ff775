"""Image panels that need computing first: run the solver for a few examples, then lay the results out in rows, as
one figure, one picker page per example, or a live view. :class:`Panel` is the layout (``core``); each chapter's
panels live in the module of its topic. Chapters use them as ``panels.<name>``."""

from .core import Panel, change_panel
from .features import (addition_live, addition_picker, additions_panel, class_panel, coordinate_pages,
                       coordinate_panel, extremes_panel, iterates_panel, regularised_panel, sensitivity_live,
                       sensitivity_panel)
from .synthesis import synthesis_panel, synthesis_grid, synthesis_live
from .style import style_panel, layer_panel, transfer_page, transfer_picker, transfer_view
from .inversion import reconstruction_panel, probe_panel, logit_edit_panel, mistakes_panel
from .interpolation import interpolation_strips, interpolation_pages

__all__ = ["addition_live", "addition_picker", "additions_panel", "change_panel", "class_panel", "coordinate_pages",
           "coordinate_panel", "extremes_panel", "interpolation_pages", "interpolation_strips", "iterates_panel",
           "layer_panel", "logit_edit_panel", "mistakes_panel", "Panel", "probe_panel", "reconstruction_panel",
           "regularised_panel", "sensitivity_live", "sensitivity_panel", "style_panel", "synthesis_grid",
           "synthesis_live", "synthesis_panel", "transfer_page", "transfer_picker", "transfer_view"]
