"""The Gatys engine: a picture's pixels optimised against a painting (optimize), frame by frame (video)."""
