"""device_bench stage of dynabert-edge."""
