"""Entry point: python -m experiments.mixture --config=experiments/configs/mixture.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("mixture")
