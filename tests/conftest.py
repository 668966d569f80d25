"""Shared pytest set-up: makes the helpers in this folder (dense_reference) importable from sub-folders."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
