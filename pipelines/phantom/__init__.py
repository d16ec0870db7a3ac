"""Built-in multimodal brain data: realistic, registered (then known-misaligned) phantom patients simulated
from the ICBM152 2009a anatomy that ships inside nilearn's wheel, written as AANLIB PNG folders, NIfTI
volumes or DICOM series.  Nothing is downloaded.

Modules: :mod:`.anatomy` (template loading), :mod:`.tissue` (tissue classes, head shells, property tables),
:mod:`.fields` (smooth random deformation / bias), :mod:`.pathology` (tumour, hypoperfusion),
:mod:`.misalignment` (known rigid motion), :mod:`.modalities` (simulators registered by name),
:mod:`.colormaps` (luma-exact pseudo-colour), :mod:`.cases` (one patient), :mod:`.writers` (formats),
:mod:`.generate` (the whole data set).  CLI: ``medfuse phantom``.
"""
