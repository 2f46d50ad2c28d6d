"""Facial-expression emotion recognition and emotion-based movie recommendations (no UI code here)."""
