"""Learning weights and measuring them.

``training`` (standard and adversarial training with exact resume, schedules, early stopping, the fast recipe),
``train_cli`` (``python -m rrhelpers train``, data-parallel under torchrun), ``inverter`` and ``inverter_training``
(feedforward inverters of a frozen classifier), ``evaluation`` (clean and PGD accuracy, APGD as a second opinion,
and the image measures: SSIM, nearest neighbours, bootstrap intervals).
"""
