"""Networks: what a model is and where its weights come from.

``models`` (``RobustModel``: normalisation inside, R(x), the head, the fake ReLU) on ``architectures`` (the ResNets),
``fusion`` (BatchNorm folded into convolutions while a model is frozen), ``foreign`` and ``wrapping`` (torchvision
and timm classifiers as ``RobustModel``), ``checkpoints`` (safetensors and ``weights_only`` states, written
atomically), ``convert`` (MadryLab and torchvision files read without running pickled code), ``published`` and
``downloads`` (the published checkpoints by name), ``zoo`` (the recipes, trained on first use and cached).
"""
