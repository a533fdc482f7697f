"""Example quick-start files (network.toml, stock.csv, order.json), shipped as package data."""
