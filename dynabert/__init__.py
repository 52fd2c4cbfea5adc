"""dynabert-edge core: the adaptive BERT, the width/depth arithmetic, rewiring, slicing, data."""
