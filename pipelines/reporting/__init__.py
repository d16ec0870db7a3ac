"""Report helpers: markdown tables, image grids, published reference values."""
