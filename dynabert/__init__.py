"""dynabert-edge core: the adaptive BERT, the width/depth arithmetic, rewiring, slicing, data."""

from dynabert.quiet import quiet_imports

# Optional runtimes (ExecuTorch -> torchao) log CUDA-library and pytree noise when merely imported; every
# stage process imports this package first, so this one call keeps all of them quiet (see dynabert/quiet.py).
quiet_imports()
