"""Fast style networks (Johnson et al. 2016): one feed-forward net per painting.

``inference`` runs a trained model (PyTorch or ONNX, large images in tiles), ``media`` applies it to
files, folders, videos and GIFs, ``export`` writes ONNX and fp16 copies; ``data``, ``checkpoint``,
``report`` and ``train`` fit a new one. Engines only: they report through callbacks and never print.
"""
