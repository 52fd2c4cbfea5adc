"""export stage of dynabert-edge."""
