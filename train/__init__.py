"""train stage of dynabert-edge."""
