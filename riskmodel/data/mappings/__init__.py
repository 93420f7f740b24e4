"""Shipped column mappings (YAML data; a package only so that the files ship in the wheel)."""
